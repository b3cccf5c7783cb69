"""Work handed from the event loop to a connection-owning thread, and back.

A thread never touches an asyncio future directly (futures are not thread-safe);
it schedules the settlement on the future's own loop with call_soon_threadsafe,
once per loop per batch, since each such call costs a wake-up of that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Job", "Settlement", "settle"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """One unit of work to run on a thread's own connection."""

    work: Callable[[sqlite3.Connection], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]

    @classmethod
    def for_running_loop(cls, work: Callable[[sqlite3.Connection], T]) -> Job[T]:
        loop = asyncio.get_running_loop()
        return cls(work=work, loop=loop, future=loop.create_future())


@dataclass(frozen=True, slots=True)
class Settlement:
    job: Job[Any]
    result: object = None
    error: BaseException | None = None


def settle(settlements: Iterable[Settlement]) -> None:
    """Resolve the jobs' futures from a worker thread."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Settlement]] = {}
    for item in settlements:
        by_loop.setdefault(item.job.loop, []).append(item)
    for loop, items in by_loop.items():
        # A closed loop raises RuntimeError: its callers are gone, nobody awaits.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_on_loop, items)


def _settle_on_loop(items: list[Settlement]) -> None:
    for item in items:
        future = item.job.future
        if future.done():  # the caller was cancelled while the work ran
            continue
        if item.error is not None:
            future.set_exception(item.error)
        else:
            future.set_result(item.result)
