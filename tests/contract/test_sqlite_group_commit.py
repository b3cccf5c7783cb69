"""SQLite only: concurrent writes are committed in batches, each write isolated."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from vconstore.domain.errors import VconNotFound
from vconstore.ports import ExistingVcon, VconFilter
from vconstore.storage.sqlite import SqliteVconRepository, WriteStats
from vconstore.storage.sqlite.queries import VconRow, delete_vcon, insert_vcon
from vconstore.storage.sqlite.writer import GroupCommitWriter

from .records import ORG, make_record, new_uuid


async def test_64_concurrent_inserts_commit_in_fewer_transactions(tmp_path: Path) -> None:
    repo = SqliteVconRepository(tmp_path / "vcons.sqlite3")
    await repo.open()
    try:
        records = [make_record() for _ in range(64)]

        results = await asyncio.gather(*(repo.insert(record=r) for r in records))

        assert results == [None] * 64
        stats = repo.stats
        assert stats.operations == 64
        assert stats.commits < 64
        assert stats.largest_batch > 1
    finally:
        await repo.close()
    assert repo.stats.operations == 64  # still readable after close


class HeldWriter:
    """A GroupCommitWriter whose thread is parked inside a batch, so that writes
    submitted meanwhile are certain to be queued together."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer
        self._parked = threading.Event()
        self._release = threading.Event()
        self._holding: asyncio.Future[None] | None = None

    async def hold(self) -> None:
        def park(conn: sqlite3.Connection) -> None:
            self._parked.set()
            self._release.wait()

        self._holding = asyncio.ensure_future(self.writer.submit(park))
        await asyncio.to_thread(self._parked.wait)

    async def run_together(self, *works: Callable[[sqlite3.Connection], Any]) -> list[Any]:
        """Queue every work, then let the writer go; their outcomes in order."""
        assert self._holding is not None
        tasks = [asyncio.ensure_future(self.writer.submit(work)) for work in works]
        # The loop runs ready callbacks in FIFO order: each task's first step (which
        # enqueues its write) runs before this release.
        asyncio.get_running_loop().call_soon(self._release.set)
        await self._holding
        return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[HeldWriter]:
    writer = GroupCommitWriter(
        tmp_path / "vcons.sqlite3", max_batch=256, max_bytes=None, lock_timeout_ms=5000
    )
    await writer.start()
    held = HeldWriter(writer)
    await held.hold()
    try:
        yield held
    finally:
        await writer.stop()


def _insert(row: VconRow) -> Callable[[sqlite3.Connection], ExistingVcon | None]:
    return lambda conn: insert_vcon(conn, row, None)


def _count(conn: sqlite3.Connection) -> int:
    count = conn.execute("SELECT count(*) FROM vcons").fetchone()[0]
    assert isinstance(count, int)
    return count


async def test_queued_writes_share_one_commit_and_fail_alone(held: HeldWriter) -> None:
    rows = [VconRow.from_record(make_record()) for _ in range(5)]
    duplicate = VconRow.from_record(make_record(uuid=rows[0].uuid, vcon_json="{}"))

    def half_done(conn: sqlite3.Connection) -> None:
        insert_vcon(conn, VconRow.from_record(make_record(subject="never committed")), None)
        raise RuntimeError("fails after writing")

    results = await held.run_together(
        _insert(rows[0]),
        _insert(duplicate),
        lambda conn: delete_vcon(conn, ORG, new_uuid(), None),
        half_done,
        *(_insert(row) for row in rows[1:]),
        _count,
    )

    assert held.writer.stats == WriteStats(commits=2, operations=1 + 9, largest_batch=9)
    assert results[0] is None
    assert isinstance(results[1], ExistingVcon)
    assert isinstance(results[2], VconNotFound)
    assert isinstance(results[3], RuntimeError)
    assert results[4:8] == [None] * 4
    # The last write of the batch sees the five inserts, not the half-done one.
    assert results[8] == 5


async def test_a_batch_holds_at_most_max_batch_writes(tmp_path: Path) -> None:
    writer = GroupCommitWriter(
        tmp_path / "vcons.sqlite3", max_batch=4, max_bytes=None, lock_timeout_ms=5000
    )
    await writer.start()
    held = HeldWriter(writer)
    await held.hold()
    try:
        rows = [VconRow.from_record(make_record()) for _ in range(10)]

        results = await held.run_together(*(_insert(row) for row in rows))

        assert results == [None] * 10
        assert writer.stats == WriteStats(commits=1 + 3, operations=1 + 10, largest_batch=4)
    finally:
        await writer.stop()


async def test_stop_commits_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    repo = SqliteVconRepository(path)
    await repo.open()
    records = [make_record() for _ in range(20)]
    inserts = [asyncio.ensure_future(repo.insert(record=r)) for r in records]
    # Scheduled after the inserts, so it starts once they are queued (FIFO).
    closing = asyncio.ensure_future(repo.close())

    assert await asyncio.gather(*inserts) == [None] * 20
    await closing

    reopened = SqliteVconRepository(path)
    await reopened.open()
    try:
        page = await reopened.list(org=ORG, filter=VconFilter(), after=None, limit=1)
        assert page.total == 20
    finally:
        await reopened.close()
