"""The embedded default storage: vCons in one SQLite file, behind the storage port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from vconstore.ports import (
    ApiKeyPage,
    ApiKeyRecord,
    Cursor,
    DeletionEntry,
    ExistingVcon,
    Lineage,
    ListPage,
    PendingRegistration,
    Receipt,
    ScittEntry,
    ScittPage,
    StoredVcon,
    VconFilter,
    VconRecord,
)

from . import api_key_queries, queries, scitt_queries
from .database import SqliteDatabase
from .migrations import VCON_SCHEMA
from .writer import WriteStats

__all__ = ["SqliteVconRepository"]


class SqliteVconRepository:
    """`VconRepository` and `ApiKeyRepository` on a SQLite file (WAL,
    synchronous=FULL, secure_delete).

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
        self._database = SqliteDatabase(
            path,
            schema=VCON_SCHEMA,
            probe=queries.ping,
            readers=readers,
            max_batch=max_batch,
            max_bytes=max_bytes,
            lock_timeout=lock_timeout,
            thread_name="vconstore-sqlite",
        )

    @property
    def path(self) -> Path:
        return self._database.path

    @property
    def stats(self) -> WriteStats:
        """Commit counters of the current (or last) opening; for tests and metrics."""
        return self._database.stats

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def ping(self) -> None:
        await self._database.ping()

    async def insert(
        self, *, record: VconRecord, scitt: ScittEntry | None = None
    ) -> ExistingVcon | None:
        row = queries.VconRow.from_record(record)
        return await self._database.write(lambda conn: queries.insert_vcon(conn, row, scitt))

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        return await self._database.read(lambda conn: queries.get_vcon(conn, org, uuid))

    async def exists(self, *, org: str, uuid: str) -> bool:
        return await self._database.read(lambda conn: queries.vcon_exists(conn, org, uuid))

    async def delete(
        self, *, org: str, uuid: str, scitt: DeletionEntry | None = None
    ) -> ScittEntry | None:
        return await self._database.write(
            lambda conn: queries.delete_vcon(conn, org, uuid, scitt), erases=True
        )

    async def list_scitt(self, *, org: str, uuid: str, after: int | None, limit: int) -> ScittPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return await self._database.read(
            lambda conn: scitt_queries.list_entries(conn, org, uuid, after, limit)
        )

    async def pending_registrations(self, *, limit: int) -> list[PendingRegistration]:
        return await self._database.read(
            lambda conn: scitt_queries.pending_registrations(conn, limit)
        )

    async def count_pending(self) -> int:
        return await self._database.read(scitt_queries.count_pending)

    async def store_receipts(self, *, receipts: Sequence[Receipt]) -> None:
        if receipts:
            await self._database.write(lambda conn: scitt_queries.store_receipts(conn, receipts))

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return await self._database.read(
            lambda conn: queries.list_vcons(conn, org, filter, after, limit)
        )

    async def list_derivatives(
        self, *, org: str, uuid: str, after: Cursor | None, limit: int
    ) -> ListPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return await self._database.read(
            lambda conn: queries.list_derivatives(conn, org, uuid, after, limit)
        )

    async def lineage_of(self, *, org: str, uuid: str) -> Lineage | None:
        return await self._database.read(lambda conn: queries.lineage_of(conn, org, uuid))

    # --- API keys ---------------------------------------------------------------

    async def create_api_key(self, *, record: ApiKeyRecord) -> None:
        await self._database.write(lambda conn: api_key_queries.create_key(conn, record))

    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        return await self._database.read(lambda conn: api_key_queries.find_keys(conn, prefix))

    async def list_api_keys(self, *, org: str, after: Cursor | None, limit: int) -> ApiKeyPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return await self._database.read(
            lambda conn: api_key_queries.list_keys(conn, org, after, limit)
        )

    async def revoke_api_key(self, *, org: str, key_id: str, at: datetime) -> ApiKeyRecord:
        return await self._database.write(
            lambda conn: api_key_queries.revoke_key(conn, org, key_id, at)
        )

    async def touch_api_keys(self, *, used: Sequence[tuple[str, datetime]]) -> None:
        if used:
            await self._database.write(lambda conn: api_key_queries.touch_keys(conn, used))
