"""A few threads that each own one read connection, so reads never block the
event loop. In WAL mode they read beside the writer thread without waiting
for it (each read sees the last commit before it started)."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from vconstore.domain.errors import StorageUnavailable

from .connections import is_storage_failure, open_reader, unavailable
from .handoff import Job, Settlement, settle

__all__ = ["ReaderPool"]

T = TypeVar("T")

_STOP: Final = object()


class ReaderPool:
    def __init__(
        self,
        path: Path,
        *,
        size: int,
        lock_timeout_ms: int,
        thread_name: str = "vconstore-sqlite-reader",
    ) -> None:
        """`thread_name`: the threads are named `<thread_name>-<i>`."""
        if size < 1:
            raise ValueError("a reader pool needs at least one thread")
        self._path = path
        self._size = size
        self._lock_timeout_ms = lock_timeout_ms
        self._thread_name = thread_name
        self._queue: queue.SimpleQueue[Job[Any] | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._main, name=f"{self._thread_name}-{i}", daemon=True)
                for i in range(self._size)
            ]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
            for _ in threads:
                self._queue.put(_STOP)
        for thread in threads:
            await asyncio.to_thread(thread.join)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        job = Job.for_running_loop(work)
        with self._lock:
            if not self._threads:
                raise StorageUnavailable("SQLite storage is not open")
            self._queue.put(job)
        return await job.future

    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while (item := self._queue.get()) is not _STOP:
                assert isinstance(item, Job)
                try:
                    # Opened lazily and reopened after a failure, so a file that was
                    # briefly unreachable does not leave this thread broken for good.
                    if conn is None:
                        conn = open_reader(self._path, lock_timeout_ms=self._lock_timeout_ms)
                    settlement = Settlement(item, result=item.work(conn))
                except Exception as exc:
                    settlement = Settlement(item, error=_as_storage_error(exc))
                    if conn is not None and conn.in_transaction:
                        try:
                            conn.rollback()
                        except sqlite3.Error:
                            conn.close()
                            conn = None
                settle([settlement])
        finally:
            if conn is not None:
                conn.close()


def _as_storage_error(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error) and is_storage_failure(exc):
        return unavailable(exc)
    return exc
