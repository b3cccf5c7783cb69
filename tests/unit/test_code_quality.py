"""ruff and mypy --strict run as part of the suite, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff_finds_nothing() -> None:
    result = _run(str(BIN / "ruff"), "check", "service", "clients", "tests", "bench", "protos")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_packages() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
