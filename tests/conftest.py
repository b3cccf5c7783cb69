"""Suite-wide hooks. Report hooks live here, not in tests/contract/: pytest
calls them only for conftest files it loads before collecting, which a
subfolder's is not when the whole suite runs."""

from __future__ import annotations

import pytest

from tests.support import mongo_backend_description


def pytest_report_header() -> str:
    return mongo_backend_description()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Repeated at the end, where CI logs are usually read.
    terminalreporter.write_line(mongo_backend_description())
