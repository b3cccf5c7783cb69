"""The ledger storage contract (vconstore.ledger.ports.LedgerRepository), run on
every backend of ledger_backends.LEDGER_BACKENDS, then what only one backend
can show: MongoDB's half-written batches, SQLite's behaviour under SIGKILL."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from vconstore.domain.errors import StorageUnavailable
from vconstore.ledger.ports import AppendBatch, LeafRecord, LedgerRepository
from vconstore.ledger.storage.mongo import HEADS, LEASE, LEAVES, NODES, leaf_document, node_id
from vconstore.ledger.storage.sqlite import SqliteLedgerRepository
from vconstore.storage.sqlite import SchemaTooNew

from . import ledger_backends
from .ledger_backends import (
    VCONS,
    LedgerStorage,
    crash_batch_sizes,
    created_nodes,
    make_batch,
    make_head,
    make_leaf,
    mongo_ledger,
    node_hash,
)

# The fixtures, registered for this module by being its attributes.
ledger_storage = ledger_backends.ledger_storage
ledger_repo = ledger_backends.ledger_repo

# Batch boundaries at 1, 4, 8, 15, 16, 32, 37: sizes of 1, a power of two,
# odd sizes, and batches that complete several levels at once.
BATCH_SIZES = (1, 3, 4, 7, 1, 16, 5)
REPO_ROOT = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 60


async def append_all(repo: LedgerRepository, sizes: tuple[int, ...] = BATCH_SIZES) -> list[int]:
    """Appends batches of these sizes; returns the boundaries (the heads' sizes)."""
    boundaries, size = [], 0
    for count in sizes:
        await repo.append(make_batch(size, count))
        size += count
        boundaries.append(size)
    return boundaries


async def assert_state(repo: LedgerRepository, size: int, boundaries: list[int]) -> None:
    """Exactly the leaves, nodes and heads of make_batch() batches up to `size`."""
    latest = await repo.latest_head()
    assert latest == (make_head(size) if size else None)
    for index in range(size):
        assert await repo.leaf_at(index) == make_leaf(index)
    assert await repo.leaf_at(size) is None
    wanted = created_nodes(0, size)
    assert await repo.nodes(wanted) == {key: node_hash(key) for key in wanted}
    assert await repo.nodes(created_nodes(size, size + 8)) == {}
    for boundary in boundaries:
        assert await repo.head_at(boundary) == make_head(boundary)


# --- the contract, on every backend ----------------------------------------------


async def test_an_empty_log_has_nothing(ledger_repo: LedgerRepository) -> None:
    await ledger_repo.ping()
    assert await ledger_repo.latest_head() is None
    assert await ledger_repo.head_at(0) is None
    assert await ledger_repo.head_at(1) is None
    assert await ledger_repo.head_covering(0) is None
    assert await ledger_repo.nodes([(0, 0), (3, 1)]) == {}
    assert await ledger_repo.nodes([]) == {}
    assert await ledger_repo.leaves_by_hash([make_leaf(0).leaf_hash]) == {}
    assert await ledger_repo.leaves_by_hash([]) == {}
    assert await ledger_repo.leaf_at(0) is None
    assert await ledger_repo.leaves_for_vcon(VCONS[0], after_index=-1, limit=10) == []


async def test_batches_read_back_by_index_hash_and_node(ledger_repo: LedgerRepository) -> None:
    boundaries = await append_all(ledger_repo)
    size = boundaries[-1]

    await assert_state(ledger_repo, size, boundaries)
    assert await ledger_repo.leaf_at(-1) is None
    leaves = [make_leaf(index) for index in range(size)]
    unknown = hashlib.sha256(b"\x00never registered").digest()
    found = await ledger_repo.leaves_by_hash([leaf.leaf_hash for leaf in leaves] + [unknown])
    assert found == {leaf.leaf_hash: leaf for leaf in leaves}
    # Nodes are answered for exactly the keys stored: a mix of present and absent.
    mixed = [(0, 0), (5, 0), (5, 1), (2, 8), (2, 9), (0, size), (6, 0), (1, 17), (1, 18)]
    assert await ledger_repo.nodes(mixed) == {
        key: node_hash(key) for key in [(0, 0), (5, 0), (2, 8), (1, 17)]
    }


async def test_instants_come_back_in_utc_to_the_microsecond(ledger_repo: LedgerRepository) -> None:
    elsewhere = timezone(timedelta(hours=-5, minutes=-30))
    batch = make_batch(0, 2)
    leaf = batch.leaves[0]
    when = datetime(2026, 3, 1, 1, 2, 3, 999_999, tzinfo=elsewhere)
    leaves = [replace(leaf, registered_at=when), batch.leaves[1]]
    head = replace(batch.head, signed_at=when + timedelta(microseconds=1))
    await ledger_repo.append(AppendBatch(leaves=leaves, nodes=batch.nodes, head=head))

    stored = await ledger_repo.leaf_at(0)
    latest = await ledger_repo.latest_head()
    assert stored is not None and latest is not None
    assert stored.registered_at == when and stored.registered_at.tzinfo == UTC
    assert latest.signed_at == when + timedelta(microseconds=1)
    assert latest.signed_at.tzinfo == UTC


async def test_heads_at_and_covering_batch_boundaries(ledger_repo: LedgerRepository) -> None:
    boundaries = await append_all(ledger_repo)

    for size in range(boundaries[-1] + 2):
        expected = make_head(size) if size in boundaries else None
        assert await ledger_repo.head_at(size) == expected, size
    for index in range(boundaries[-1]):
        # The first boundary beyond the index: an index exactly at a boundary
        # belongs to the next batch.
        covering = min(size for size in boundaries if size > index)
        assert await ledger_repo.head_covering(index) == make_head(covering), index
    assert await ledger_repo.head_covering(boundaries[-1]) is None
    assert await ledger_repo.head_covering(-1) == make_head(boundaries[0])


async def test_leaves_for_a_vcon_page_by_index(ledger_repo: LedgerRepository) -> None:
    size = (await append_all(ledger_repo))[-1]
    for vcon in (*VCONS, "no-such-vcon"):
        expected = [make_leaf(index) for index in range(size) if make_leaf(index).vcon_uuid == vcon]
        pages: list[list[LeafRecord]] = []
        after = -1
        while True:
            page = await ledger_repo.leaves_for_vcon(vcon, after_index=after, limit=4)
            pages.append(page)
            if len(page) < 4:
                break
            after = page[-1].index
        assert [leaf for page in pages for leaf in page] == expected
        assert all(len(page) == 4 for page in pages[:-1])

    # From any index, not only from one of the vCon's own.
    found = await ledger_repo.leaves_for_vcon(VCONS[1], after_index=20, limit=3)
    assert [leaf.index for leaf in found] == [22, 25, 28]
    with pytest.raises(ValueError):
        await ledger_repo.leaves_for_vcon(VCONS[0], after_index=-1, limit=0)


@pytest.mark.parametrize("start", [0, 3, 5], ids=["overlap-from-0", "overlap", "gap"])
async def test_an_append_at_the_wrong_index_fails_and_stores_nothing(
    ledger_repo: LedgerRepository, start: int
) -> None:
    await ledger_repo.append(make_batch(0, 4))

    with pytest.raises(ValueError, match="size is 4"):
        await ledger_repo.append(make_batch(start, 6))

    await assert_state(ledger_repo, 4, [4])
    assert await ledger_repo.head_at(start + 6) is None
    assert await ledger_repo.leaves_by_hash([make_leaf(start + 5).leaf_hash]) == {}


def _malformed() -> dict[str, AppendBatch]:
    good = make_batch(4, 4)
    leaves, nodes, head = list(good.leaves), list(good.nodes), good.head
    gap = replace(leaves[2], index=7)
    return {
        "no-leaves": AppendBatch(leaves=[], nodes=[], head=make_head(4)),
        "gap-in-indices": AppendBatch(leaves=[*leaves[:2], gap], nodes=nodes, head=head),
        "head-size": AppendBatch(leaves=leaves, nodes=nodes, head=make_head(9)),
        "missing-node": AppendBatch(leaves=leaves, nodes=nodes[1:], head=head),
        "earlier-node": AppendBatch(leaves=leaves, nodes=[*nodes, ((2, 0), b"x" * 32)], head=head),
        "node-beyond": AppendBatch(leaves=leaves, nodes=[*nodes, ((0, 8), b"x" * 32)], head=head),
        "node-twice": AppendBatch(leaves=leaves, nodes=[*nodes, nodes[0]], head=head),
        "hash-twice": make_batch(4, 4, statements=[b"same", None, b"same", None]),
    }


@pytest.mark.parametrize("case", list(_malformed()))
async def test_a_malformed_batch_is_refused_and_stores_nothing(
    ledger_repo: LedgerRepository, case: str
) -> None:
    await ledger_repo.append(make_batch(0, 4))

    with pytest.raises(ValueError):
        await ledger_repo.append(_malformed()[case])

    await assert_state(ledger_repo, 4, [4])
    # The well-formed batch appends afterwards.
    await ledger_repo.append(make_batch(4, 4))
    await assert_state(ledger_repo, 8, [4, 8])


async def test_a_leaf_hash_already_in_the_log_fails_the_whole_batch(
    ledger_repo: LedgerRepository,
) -> None:
    await ledger_repo.append(make_batch(0, 4))
    # Its third leaf repeats leaf 1's statement, so its leaf hash.
    duplicate = make_batch(4, 5, statements=[None, None, make_leaf(1).statement, None, None])

    with pytest.raises(ValueError):
        await ledger_repo.append(duplicate)

    await assert_state(ledger_repo, 4, [4])
    assert await ledger_repo.head_covering(4) is None
    # The leaves before the duplicate are not visible either...
    found = await ledger_repo.leaves_by_hash([leaf.leaf_hash for leaf in duplicate.leaves])
    assert found == {make_leaf(1).leaf_hash: make_leaf(1)}
    assert await ledger_repo.leaves_for_vcon(VCONS[1], after_index=3, limit=5) == []
    # ...nor in the way of the corrected batch.
    await ledger_repo.append(make_batch(4, 5))
    await assert_state(ledger_repo, 9, [4, 9])


async def test_pipelined_appends_apply_in_order(ledger_repo: LedgerRepository) -> None:
    """One sequencer may have the next batch on its way before the last returned."""
    await asyncio.gather(*(ledger_repo.append(make_batch(i * 3, 3)) for i in range(6)))
    await assert_state(ledger_repo, 18, [3, 6, 9, 12, 15, 18])


async def test_of_two_appends_at_one_index_exactly_one_wins(ledger_repo: LedgerRepository) -> None:
    first = make_batch(0, 3)
    rival = make_batch(0, 3, statements=[b"rival 0", b"rival 1", b"rival 2"])
    results = await asyncio.gather(
        ledger_repo.append(first), ledger_repo.append(rival), return_exceptions=True
    )

    assert results[0] is None and isinstance(results[1], ValueError)
    await assert_state(ledger_repo, 3, [3])


async def test_a_reopened_log_sees_everything(ledger_storage: LedgerStorage) -> None:
    first = ledger_storage.new_repository()
    await first.open()
    boundaries = await append_all(first)
    await first.close()

    again = ledger_storage.new_repository()
    await again.open()
    try:
        await assert_state(again, boundaries[-1], boundaries)
        # And it appends where the log ended.
        await again.append(make_batch(boundaries[-1], 2))
        assert await again.latest_head() == make_head(boundaries[-1] + 2)
    finally:
        await again.close()


async def test_a_closed_repository_is_unavailable(ledger_storage: LedgerStorage) -> None:
    repository = ledger_storage.new_repository()
    with pytest.raises(StorageUnavailable):
        await repository.latest_head()
    await repository.open()
    await repository.close()
    with pytest.raises(StorageUnavailable):
        await repository.ping()
    with pytest.raises(StorageUnavailable):
        await repository.append(make_batch(0, 1))


# --- MongoDB: the head is the commit point -------------------------------------------


def _leaf_documents(batch: AppendBatch) -> list[dict[str, Any]]:
    return [leaf_document(leaf) for leaf in batch.leaves]


def _node_documents(batch: AppendBatch) -> list[dict[str, Any]]:
    return [{"_id": node_id(key), "hash": value} for key, value in batch.nodes]


async def _counts(database: Any) -> tuple[int, int, int]:
    return (
        await database[LEAVES].count_documents({}),
        await database[NODES].count_documents({}),
        await database[HEADS].count_documents({}),
    )


@dataclass
class OpenMongoLedger:
    storage: LedgerStorage
    repo: LedgerRepository
    # A raw handle on the database, to write and count documents behind the adapter.
    raw: Any


@asynccontextmanager
async def open_mongo_ledger(tmp_path: Path) -> AsyncIterator[OpenMongoLedger]:
    async with mongo_ledger(tmp_path) as storage:
        assert storage.mongo is not None
        repo = storage.new_repository()
        await repo.open()
        try:
            yield OpenMongoLedger(storage, repo, storage.mongo.database)
        finally:
            await repo.close()


async def test_mongo_a_half_written_batch_is_invisible_then_discarded_by_the_next_writer(
    tmp_path: Path,
) -> None:
    async with open_mongo_ledger(tmp_path) as mongo:
        repo, raw = mongo.repo, mongo.raw
        await repo.append(make_batch(0, 4))
        # A crash between the nodes and the head: what append() had written.
        # This one even differs from the batch the sequencer will write again.
        crashed = make_batch(4, 5, statements=[b"lost 4", None, b"lost 6", None, None])
        await raw[LEAVES].insert_many(_leaf_documents(crashed))
        await raw[NODES].insert_many(_node_documents(crashed))
        assert await _counts(raw) == (9, len(created_nodes(0, 9)), 1)

        await assert_state(repo, 4, [4])
        assert await repo.head_covering(4) is None
        assert await repo.leaves_by_hash([leaf.leaf_hash for leaf in crashed.leaves]) == {}
        assert await repo.leaves_for_vcon(VCONS[1], after_index=1, limit=9) == []
        await repo.close()

        reopened = mongo.storage.new_repository()
        await reopened.open()
        try:
            # Opening discards nothing (a reader must never touch a writer's
            # batch); the leftovers stay invisible...
            await reopened.ping()
            assert await _counts(raw) == (9, len(created_nodes(0, 9)), 1)
            await assert_state(reopened, 4, [4])
            # ...until this instance, now the writer, appends: it clears them first.
            await reopened.append(make_batch(4, 5))
            await assert_state(reopened, 9, [4, 9])
        finally:
            await reopened.close()


async def test_mongo_one_writer_at_a_time(tmp_path: Path) -> None:
    """A second ledger process on the same database cannot append (and so
    cannot discard the first one's half-written batch) while the first holds
    the writer lease; it takes over once the first closes, or once a crashed
    first's lease has run out."""
    async with open_mongo_ledger(tmp_path) as mongo:
        first, raw = mongo.repo, mongo.raw
        await first.append(make_batch(0, 2))
        second = mongo.storage.new_repository()
        await second.open()
        try:
            with pytest.raises(StorageUnavailable, match="writer lease"):
                await second.append(make_batch(2, 3))
            await first.append(make_batch(2, 3))  # the holder goes on
            await first.close()  # releases the lease
            await second.append(make_batch(5, 1))
            await assert_state(second, 6, [2, 5, 6])

            third = mongo.storage.new_repository()
            await third.open()
            try:
                with pytest.raises(StorageUnavailable, match="writer lease"):
                    await third.append(make_batch(6, 1))
                # The holder crashed: nobody renews its lease, which runs out.
                await raw[LEASE].update_one(
                    {"_id": "writer"}, {"$set": {"until": datetime.now(UTC) - timedelta(1)}}
                )
                await third.append(make_batch(6, 1))
                await assert_state(third, 7, [2, 5, 6, 7])
                with pytest.raises(StorageUnavailable, match="writer lease"):
                    await second.append(make_batch(7, 1))
            finally:
                await third.close()
        finally:
            await second.close()


async def test_mongo_a_batch_is_retried_after_a_failed_append_without_reopening(
    tmp_path: Path,
) -> None:
    async with open_mongo_ledger(tmp_path) as mongo:
        repo, raw = mongo.repo, mongo.raw
        await repo.append(make_batch(0, 2))
        batch = make_batch(2, 6)
        # A node of the batch is in the way, a leftover this instance did not
        # know of: the append fails after writing the leaves.
        await raw[NODES].insert_one({"_id": node_id((1, 2)), "hash": b"stale"})
        with pytest.raises(ValueError, match=NODES):
            await repo.append(batch)
        assert (await _counts(raw))[0] == 8
        await assert_state(repo, 2, [2])

        # The retry clears what lies beyond the latest head first.
        await repo.append(batch)
        await assert_state(repo, 8, [2, 8])


async def test_mongo_documents_and_indexes(tmp_path: Path) -> None:
    async with open_mongo_ledger(tmp_path) as mongo:
        await mongo.repo.append(make_batch(0, 3))
        leaf = await mongo.raw[LEAVES].find_one({"_id": 1})
        node = await mongo.raw[NODES].find_one({"_id": node_id((1, 0))})
        head = await mongo.raw[HEADS].find_one({"_id": 3})
        indexes = await mongo.raw[LEAVES].index_information()
    expected = make_leaf(1)
    assert leaf is not None and node is not None and head is not None
    assert leaf["leaf_hash"] == expected.leaf_hash and leaf["statement"] == expected.statement
    assert leaf["registered_us"] % 1000 == 8  # exact microseconds
    assert node == {"_id": 1 << 56, "hash": node_hash((1, 0))}
    assert head["checkpoint"] == make_head(3).checkpoint
    assert indexes["leaf_hash"].get("unique") is True
    assert [tuple(part) for part in indexes["vcon_uuid_id"]["key"]] == [
        ("vcon_uuid", 1),
        ("_id", 1),
    ]


# --- SQLite: its own file, whole batches after SIGKILL ------------------------------


async def test_sqlite_the_ledger_file_has_its_own_schema(tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "ledger.sqlite3"
    repo = SqliteLedgerRepository(path)
    await repo.open()
    await repo.close()
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 2")
    assert {"leaves", "nodes", "heads", "leaves_by_vcon"} <= tables
    assert "vcons" not in tables

    newer = SqliteLedgerRepository(path)
    with pytest.raises(SchemaTooNew):
        await newer.open()


async def test_sqlite_a_killed_appender_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, sys; from pathlib import Path;"
        " from tests.contract.ledger_backends import run_appender;"
        " asyncio.run(run_appender(Path(sys.argv[1])))",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert child.stdout is not None
    acked: list[int] = []
    try:
        while len(acked) < ACKS_BEFORE_KILL:
            line = await child.stdout.readline()
            assert line, f"child exited early with {await child.wait()}"
            acked.append(int(line))
        # Killed mid-stream: the next batch is being written right now.
        child.send_signal(signal.SIGKILL)
    finally:
        if child.returncode is None:
            child.kill()
        acked += [int(line) for line in (await child.stdout.read()).split()]
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    # Straight from the file: every leaf below the latest size, nothing beyond.
    with sqlite3.connect(path) as conn:
        size = conn.execute("SELECT max(size) FROM heads").fetchone()[0]
        leaves = conn.execute("SELECT count(*), min(idx), max(idx) FROM leaves").fetchone()
        nodes = conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
        beyond = conn.execute(
            "SELECT count(*) FROM nodes WHERE ((idx + 1) << level) > ?", (size,)
        ).fetchone()[0]
        sizes = [row[0] for row in conn.execute("SELECT size FROM heads ORDER BY size")]
    # An acknowledged batch survived; the one in flight is there whole or not at all.
    assert size >= acked[-1]
    assert leaves == (size, 0, size - 1)
    assert (nodes, beyond) == (len(created_nodes(0, size)), 0)
    boundaries, total = [], 0
    for count in crash_batch_sizes():
        if total >= size:
            break
        total += count
        boundaries.append(total)
    assert sizes == boundaries

    repo = SqliteLedgerRepository(path)
    await repo.open()
    try:
        await assert_state(repo, size, boundaries[-3:])
        await repo.append(make_batch(size, 3))
    finally:
        await repo.close()
