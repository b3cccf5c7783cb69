"""One SQLite file served without blocking the event loop: a group-commit
writer thread, which creates or migrates the schema at open(), and a pool of
reader threads. The vCon store's repository and the ledger's are built on it,
each with its own file and its own migration steps."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from vconstore.domain.errors import StorageUnavailable

from .migrations import Migration
from .readers import ReaderPool
from .writer import GroupCommitWriter, WriteStats

__all__ = ["SqliteDatabase"]

T = TypeVar("T")


class SqliteDatabase:
    """Args:
    path: the database file; its directory is created if missing. The WAL
        (`-wal`) and shared-memory (`-shm`) files sit next to it.
    schema: the file's migration steps, applied at open().
    probe: a cheap read that touches the schema, run by ping().
    readers: threads (and connections) serving reads.
    max_batch: most writes committed by one transaction; bounds how long
        one batch holds the write lock.
    max_bytes: refuse writes that would grow the database file beyond this
        size (StorageUnavailable, as for a full disk); None for no cap.
    lock_timeout: seconds to wait for a lock held by another connection or
        process before failing with StorageUnavailable.
    thread_name: prefix of the threads' names (`-writer`, `-reader-N`).
    """

    def __init__(
        self,
        path: Path,
        *,
        schema: Sequence[Migration],
        probe: Callable[[sqlite3.Connection], None],
        readers: int,
        max_batch: int,
        max_bytes: int | None,
        lock_timeout: float,
        thread_name: str,
    ) -> None:
        if readers < 1 or max_batch < 1:
            raise ValueError("readers and max_batch must be at least 1")
        if lock_timeout < 0:
            raise ValueError("lock_timeout must not be negative")
        self._path = Path(path)
        self._schema = tuple(schema)
        self._probe = probe
        self._readers_count = readers
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._lock_timeout_ms = round(lock_timeout * 1000)
        self._thread_name = thread_name
        self._lifecycle = asyncio.Lock()
        self._writer: GroupCommitWriter | None = None
        self._readers: ReaderPool | None = None
        self._last_stats = WriteStats()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def stats(self) -> WriteStats:
        """Commit counters of the current (or last) opening; for tests and metrics."""
        return self._writer.stats if self._writer is not None else self._last_stats

    async def open(self) -> None:
        async with self._lifecycle:
            if self._writer is not None:
                return
            await asyncio.to_thread(self._path.parent.mkdir, parents=True, exist_ok=True)
            writer = GroupCommitWriter(
                self._path,
                max_batch=self._max_batch,
                max_bytes=self._max_bytes,
                lock_timeout_ms=self._lock_timeout_ms,
                schema=self._schema,
                thread_name=f"{self._thread_name}-writer",
            )
            await writer.start()  # creates or migrates the schema
            readers = ReaderPool(
                self._path,
                size=self._readers_count,
                lock_timeout_ms=self._lock_timeout_ms,
                thread_name=f"{self._thread_name}-reader",
            )
            readers.start()
            self._writer, self._readers = writer, readers

    async def close(self) -> None:
        async with self._lifecycle:
            writer, readers = self._writer, self._readers
            self._writer = self._readers = None
            if readers is not None:
                await readers.stop()
            if writer is not None:
                await writer.stop()
                self._last_stats = writer.stats

    async def ping(self) -> None:
        writer, readers = self._opened()
        if not writer.alive:
            raise StorageUnavailable("SQLite writer is not running")
        await readers.run(self._probe)

    async def write(self, work: Callable[[sqlite3.Connection], T], *, erases: bool = False) -> T:
        """`work` inside the next group commit; its result once that is durable."""
        writer, _ = self._opened()
        return await writer.submit(work, erases=erases)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        _, readers = self._opened()
        return await readers.run(work)

    def _opened(self) -> tuple[GroupCommitWriter, ReaderPool]:
        if self._writer is None or self._readers is None:
            raise StorageUnavailable("SQLite storage is not open")
        return self._writer, self._readers
