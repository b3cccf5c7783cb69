"""Every log line is JSON on stderr; driver payload logging stays off."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from vconstore.logging_setup import configure_logging


def test_stdlib_and_structlog_lines_are_json_and_pymongo_is_held_at_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("pymongo").level)
    configure_logging("debug")
    try:
        logging.getLogger("vconstore.storage.sqlite.writer").error("batch of %d failed", 3)
        logging.getLogger("pymongo.command").debug("a command with a vCon in it")
        structlog.get_logger("vconstore.test").info("hello", uuid="u-1")
        captured = capsys.readouterr()
    finally:
        # Restore what configure_logging changed process-wide: a root logger
        # left at DEBUG makes every later test capture every library's debug
        # records (with grpc objects in them), and that crashed the
        # interpreter in a later test's teardown (tests/unit + tests/api).
        structlog.reset_defaults()
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("pymongo").setLevel(saved[2])
    assert captured.out == ""
    lines = [json.loads(line) for line in captured.err.splitlines()]
    assert [line["event"] for line in lines] == ["batch of 3 failed", "hello"]
    assert lines[0]["level"] == "error" and lines[0]["logger"].endswith("writer")
    assert "vCon in it" not in captured.err
