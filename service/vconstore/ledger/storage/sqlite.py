"""The ledger's embedded storage: the Merkle log in its own SQLite file
(e.g. `<data dir>/ledger/ledger.sqlite3`), beside the vCon store's but never in it.

Built on the vCon store's SQLite machinery (storage/sqlite/database.py): WAL,
synchronous=FULL, one group-commit writer thread, reader threads, and the
same classification of storage failures into StorageUnavailable. append() is
one transaction, so a batch is either wholly in the file or not at all and
open() has no half-written batch to discard.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from vconstore.ledger.ports import AppendBatch, LeafRecord, NodeKey, TreeHead
from vconstore.storage.normalise import from_micros, to_micros
from vconstore.storage.sqlite.database import SqliteDatabase

from .batches import check_batch, check_limit, check_next
from .sqlite_schema import LEDGER_SCHEMA

__all__ = ["SqliteLedgerRepository"]

T = TypeVar("T")

# Keys per query: 2 parameters each for nodes, far below SQLite's limit on
# bound parameters (32766 since 3.32, 999 before).
_CHUNK: Final = 400

_LEAF_COLUMNS: Final = "idx, leaf_hash, vcon_uuid, operation, registered_at, statement"
_HEAD_COLUMNS: Final = "size, root, signed_at, receipt_protected, receipt_signature, checkpoint"


class SqliteLedgerRepository:
    """`LedgerRepository` on one SQLite file.

    Args:
        path: the database file; its directory is created if missing.
        readers: threads (and connections) serving reads.
        lock_timeout: seconds to wait for a lock held by another connection
            or process before failing with StorageUnavailable.
    """

    def __init__(self, path: Path, *, readers: int = 2, lock_timeout: float = 5.0) -> None:
        self._database = SqliteDatabase(
            path,
            schema=LEDGER_SCHEMA,
            probe=_probe,
            readers=readers,
            # One sequencer appends one batch at a time; a few may queue up if
            # it pipelines, and then share one fsync.
            max_batch=16,
            max_bytes=None,
            lock_timeout=lock_timeout,
            thread_name="vconstore-ledger",
        )

    @property
    def path(self) -> Path:
        return self._database.path

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def ping(self) -> None:
        await self._database.ping()

    async def append(self, batch: AppendBatch) -> None:
        check_batch(batch)
        rows = _BatchRows.of(batch)
        await self._database.write(lambda conn: _append(conn, batch, rows))

    async def latest_head(self) -> TreeHead | None:
        return await self._read_head(
            f"SELECT {_HEAD_COLUMNS} FROM heads ORDER BY size DESC LIMIT 1", ()
        )

    async def head_at(self, size: int) -> TreeHead | None:
        return await self._read_head(f"SELECT {_HEAD_COLUMNS} FROM heads WHERE size = ?", (size,))

    async def head_covering(self, index: int) -> TreeHead | None:
        return await self._read_head(
            f"SELECT {_HEAD_COLUMNS} FROM heads WHERE size > ? ORDER BY size LIMIT 1", (index,)
        )

    async def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        return await self._database.read(lambda conn: _nodes(conn, wanted))

    async def leaves_by_hash(self, leaf_hashes: Collection[bytes]) -> dict[bytes, LeafRecord]:
        wanted = list(dict.fromkeys(bytes(leaf_hash) for leaf_hash in leaf_hashes))
        if not wanted:
            return {}
        return await self._database.read(lambda conn: _leaves_by_hash(conn, wanted))

    async def leaf_at(self, index: int) -> LeafRecord | None:
        def read(conn: sqlite3.Connection) -> LeafRecord | None:
            row = conn.execute(f"SELECT {_LEAF_COLUMNS} FROM leaves WHERE idx = ?", (index,))
            found = row.fetchone()
            return None if found is None else _leaf(found)

        return await self._database.read(read)

    async def leaves_for_vcon(
        self, vcon_uuid: str, *, after_index: int, limit: int
    ) -> list[LeafRecord]:
        check_limit(limit)

        def read(conn: sqlite3.Connection) -> list[LeafRecord]:
            rows = conn.execute(
                f"SELECT {_LEAF_COLUMNS} FROM leaves WHERE vcon_uuid = ? AND idx > ?"
                " ORDER BY idx LIMIT ?",
                (vcon_uuid, after_index, limit),
            )
            return [_leaf(row) for row in rows]

        return await self._database.read(read)

    async def _read_head(self, sql: str, parameters: Sequence[object]) -> TreeHead | None:
        def read(conn: sqlite3.Connection) -> TreeHead | None:
            found = conn.execute(sql, parameters).fetchone()
            return None if found is None else _head(found)

        return await self._database.read(read)


# --- on the writer thread -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BatchRows:
    """The batch as bound parameters, converted on the event loop so the writer
    thread (which serialises every commit) only executes."""

    leaves: list[tuple[int, bytes, str, str, int, bytes]]
    nodes: list[tuple[int, int, bytes]]
    head: tuple[int, bytes, int, bytes, bytes, str]

    @classmethod
    def of(cls, batch: AppendBatch) -> _BatchRows:
        head = batch.head
        return cls(
            leaves=[
                (
                    leaf.index,
                    bytes(leaf.leaf_hash),
                    leaf.vcon_uuid,
                    leaf.operation,
                    to_micros(leaf.registered_at),
                    bytes(leaf.statement),
                )
                for leaf in batch.leaves
            ],
            nodes=[(level, index, bytes(value)) for (level, index), value in batch.nodes],
            head=(
                head.size,
                bytes(head.root),
                to_micros(head.signed_at),
                bytes(head.receipt_protected),
                bytes(head.receipt_signature),
                head.checkpoint,
            ),
        )


def _append(conn: sqlite3.Connection, batch: AppendBatch, rows: _BatchRows) -> None:
    """Inside the writer's transaction (a savepoint of its group commit): an
    exception here rolls back this batch alone."""
    found = conn.execute("SELECT size FROM heads ORDER BY size DESC LIMIT 1").fetchone()
    check_next(batch, 0 if found is None else int(found[0]))
    try:
        conn.executemany(
            f"INSERT INTO leaves ({_LEAF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows.leaves
        )
        conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", rows.nodes)
        conn.execute(f"INSERT INTO heads ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows.head)
    except sqlite3.IntegrityError as exc:
        # With the size checked above, only a leaf hash already in the log can
        # collide. SQLite's message names the constraint, never a value.
        raise ValueError(f"the batch conflicts with the log: {exc}") from None


# --- on a reader thread ---------------------------------------------------------


def _probe(conn: sqlite3.Connection) -> None:
    # Touches the file (schema and first page), not just the library.
    conn.execute("SELECT 1 FROM heads LIMIT 1").fetchall()


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _nodes(conn: sqlite3.Connection, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
    found: dict[NodeKey, bytes] = {}
    for chunk in _chunks(keys):
        # A join from the keys to the primary key: one b-tree search per key.
        # (`(level, idx) IN (VALUES ...)` would scan the whole table instead.)
        values = ", ".join("(?, ?)" for _ in chunk)
        rows = conn.execute(
            f"WITH wanted(level, idx) AS (VALUES {values})"
            " SELECT nodes.level, nodes.idx, nodes.hash"
            " FROM wanted CROSS JOIN nodes"
            " ON nodes.level = wanted.level AND nodes.idx = wanted.idx",
            [part for key in chunk for part in key],
        )
        found.update(((level, index), value) for level, index, value in rows)
    return found


def _leaves_by_hash(conn: sqlite3.Connection, leaf_hashes: list[bytes]) -> dict[bytes, LeafRecord]:
    found: dict[bytes, LeafRecord] = {}
    for chunk in _chunks(leaf_hashes):
        marks = ", ".join("?" for _ in chunk)
        rows = conn.execute(
            f"SELECT {_LEAF_COLUMNS} FROM leaves WHERE leaf_hash IN ({marks})", chunk
        )
        found.update((leaf.leaf_hash, leaf) for leaf in map(_leaf, rows))
    return found


def _leaf(row: Any) -> LeafRecord:
    index, leaf_hash, vcon_uuid, operation, registered_at, statement = row
    return LeafRecord(
        index=index,
        leaf_hash=leaf_hash,
        statement=statement,
        vcon_uuid=vcon_uuid,
        operation=operation,
        registered_at=from_micros(registered_at),
    )


def _head(row: Any) -> TreeHead:
    size, root, signed_at, receipt_protected, receipt_signature, checkpoint = row
    return TreeHead(
        size=size,
        root=root,
        signed_at=from_micros(signed_at),
        receipt_protected=receipt_protected,
        receipt_signature=receipt_signature,
        checkpoint=checkpoint,
    )
