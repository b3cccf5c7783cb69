"""A child process that must not outlive the `vconstore up` that started it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["PARENT_PID_ENV", "die_with_parent", "exit_with_parent"]

PARENT_PID_ENV = "VCON_LEDGER_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, signal_number: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `signal_number` to this process when its parent dies;
    False (and nothing done) elsewhere. Raises SystemExit if the parent is
    already gone (this process was re-parented before the request)."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
    if os.getppid() != parent_pid:
        raise SystemExit("vconstore: the process that started this one has exited")
    return True


def exit_with_parent() -> None:
    """When started by `vconstore up` (which sets PARENT_PID_ENV), ask Linux
    to send SIGTERM when the parent dies, so a SIGKILLed `up` leaves no ledger
    holding its port. Elsewhere, and when run on its own, nothing happens."""
    expected = os.environ.pop(PARENT_PID_ENV, None)
    if expected is not None:
        # SIGTERM: the ledger drains and exits 0. If the parent died before
        # prctl, we were re-parented already and exit at once.
        die_with_parent(int(expected), signal.SIGTERM)
