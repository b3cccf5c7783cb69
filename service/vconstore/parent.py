"""A child process that must not outlive the `vconstore up` that started it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["PARENT_PID_ENV", "exit_with_parent"]

PARENT_PID_ENV = "VCON_LEDGER_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """When started by `vconstore up` (which sets PARENT_PID_ENV), ask Linux
    to send SIGTERM when the parent dies, so a SIGKILLed `up` leaves no ledger
    holding its port. Elsewhere, and when run on its own, nothing happens."""
    expected = os.environ.pop(PARENT_PID_ENV, None)
    if expected is None or not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have died before prctl: then we were re-parented already.
    if str(os.getppid()) != expected:
        raise SystemExit("vconstore: the process that started this ledger has exited")
