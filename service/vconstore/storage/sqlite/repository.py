"""The embedded default storage: vCons in one SQLite file, behind the storage port."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vconstore.domain.errors import StorageUnavailable
from vconstore.ports import (
    Cursor,
    ExistingVcon,
    ListPage,
    StoredVcon,
    VconFilter,
    VconRecord,
)

from . import queries
from .readers import ReaderPool
from .writer import GroupCommitWriter, WriteStats

__all__ = ["SqliteVconRepository"]


class SqliteVconRepository:
    """`VconRepository` on a SQLite file (WAL, synchronous=FULL, secure_delete).

    Writes go through one writer thread that group-commits whatever is waiting;
    insert() and delete() return once their transaction is on disk. Reads run
    on `readers` threads with a connection each. Nothing blocks the event loop.
    delete() erases physically: secure_delete zeroes the freed bytes, and before
    it returns a checkpoint truncates the WAL holding the old page images (if
    readers keep it busy, that is retried after each later batch).

    Args:
        path: the database file; its directory is created if missing. The WAL
            (`-wal`) and shared-memory (`-shm`) files sit next to it.
        readers: threads (and connections) serving get/list/ping.
        max_batch: most writes committed by one transaction; bounds how long
            one batch holds the write lock.
        max_bytes: refuse writes that would grow the database file beyond
            this size (StorageUnavailable, as for a full disk); None for no cap.
        lock_timeout: seconds to wait for a lock held by another connection or
            process before failing with StorageUnavailable.
    """

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 2,
        max_batch: int = 256,
        max_bytes: int | None = None,
        lock_timeout: float = 5.0,
    ) -> None:
        if readers < 1 or max_batch < 1:
            raise ValueError("readers and max_batch must be at least 1")
        if lock_timeout < 0:
            raise ValueError("lock_timeout must not be negative")
        self._path = Path(path)
        self._readers_count = readers
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._lock_timeout_ms = round(lock_timeout * 1000)
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
            )
            await writer.start()  # creates or migrates the schema
            readers = ReaderPool(
                self._path, size=self._readers_count, lock_timeout_ms=self._lock_timeout_ms
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
        await readers.run(queries.ping)

    async def insert(self, *, record: VconRecord) -> ExistingVcon | None:
        row = queries.VconRow.from_record(record)
        writer, _ = self._opened()
        return await writer.submit(lambda conn: queries.insert_vcon(conn, row))

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        _, readers = self._opened()
        return await readers.run(lambda conn: queries.get_vcon(conn, org, uuid))

    async def delete(self, *, org: str, uuid: str) -> None:
        writer, _ = self._opened()
        await writer.submit(lambda conn: queries.delete_vcon(conn, org, uuid), erases=True)

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        _, readers = self._opened()
        return await readers.run(lambda conn: queries.list_vcons(conn, org, filter, after, limit))

    def _opened(self) -> tuple[GroupCommitWriter, ReaderPool]:
        if self._writer is None or self._readers is None:
            raise StorageUnavailable("SQLite storage is not open")
        return self._writer, self._readers
