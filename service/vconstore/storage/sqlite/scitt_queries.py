"""The SQL of ledger entries (table scitt_entries): written inside the vCon
operation's own transaction, read by ListScittEntries and the registrar."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from vconstore.domain.errors import VconNotFound
from vconstore.ports import PendingRegistration, Receipt, ScittEntry, ScittPage
from vconstore.storage.normalise import from_micros, to_micros

__all__ = [
    "ENTRY_COLUMNS",
    "append_entry",
    "count_pending",
    "create_entry",
    "latest_entry",
    "list_entries",
    "pending_registrations",
    "store_receipts",
]

ENTRY_COLUMNS = ("entry_id", "operation", "statement", "created_at", "receipt")
# The order whose first row is ports.create_entry_of's choice: the newest
# entry that is not a `redact`, else the oldest `redact`.
CREATE_ENTRY_ORDER = (
    "(operation = 'redact'), CASE WHEN operation = 'redact' THEN position ELSE -position END"
)
_COLUMNS = ", ".join(ENTRY_COLUMNS)


def _entry(row: tuple[object, ...]) -> ScittEntry:
    entry_id, operation, statement, created_at, receipt = row
    assert isinstance(entry_id, str) and isinstance(operation, str)
    assert isinstance(statement, bytes) and isinstance(created_at, int)
    assert receipt is None or isinstance(receipt, bytes)
    return ScittEntry(
        entry_id=entry_id,
        operation=operation,
        statement=statement,
        created_at=from_micros(created_at),
        receipt=receipt,
    )


def append_entry(conn: sqlite3.Connection, org: str, uuid: str, entry: ScittEntry) -> None:
    """Add the entry after the uuid's last one; call inside the operation's transaction."""
    conn.execute(
        "INSERT INTO scitt_entries"
        " (org, uuid, position, entry_id, operation, created_at, statement, receipt)"
        " VALUES (?, ?, (SELECT coalesce(max(position) + 1, 0) FROM scitt_entries"
        "   WHERE org = ? AND uuid = ?), ?, ?, ?, ?, ?)",
        (
            org,
            uuid,
            org,
            uuid,
            entry.entry_id,
            entry.operation,
            to_micros(entry.created_at),
            entry.statement,
            entry.receipt,
        ),
    )


def latest_entry(conn: sqlite3.Connection, org: str, uuid: str) -> ScittEntry | None:
    """For a live vCon, the entry of the create that stored it (see create_entry)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM scitt_entries WHERE org = ? AND uuid = ?"
        f" ORDER BY {CREATE_ENTRY_ORDER} LIMIT 1",
        (org, uuid),
    ).fetchone()
    return None if row is None else create_entry(row)


def create_entry(row: Sequence[object]) -> ScittEntry | None:
    """A live vCon's entry from the uuid's newest entry row (ENTRY_COLUMNS;
    all None when it has none): None if that is a deletion (the vCon was then
    created again without a ledger, and has no entry of its own)."""
    if row[0] is None:
        return None
    entry = _entry(tuple(row))
    return None if entry.operation == "delete" else entry


def list_entries(
    conn: sqlite3.Connection, org: str, uuid: str, after: int | None, limit: int
) -> ScittPage:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM scitt_entries WHERE org = ? AND uuid = ? AND position > ?"
        " ORDER BY position LIMIT ?",
        (org, uuid, -1 if after is None else after, limit + 1),
    ).fetchall()
    if not rows and (
        after is None
        or conn.execute(
            "SELECT 1 FROM scitt_entries WHERE org = ? AND uuid = ? LIMIT 1", (org, uuid)
        ).fetchone()
        is None
    ):
        raise VconNotFound(uuid)
    return ScittPage(entries=[_entry(row) for row in rows[:limit]], has_more=len(rows) > limit)


def pending_registrations(conn: sqlite3.Connection, limit: int) -> list[PendingRegistration]:
    rows = conn.execute(
        f"SELECT org, uuid, {_COLUMNS} FROM scitt_entries INDEXED BY scitt_pending"
        " WHERE receipt IS NULL ORDER BY created_at LIMIT ?",
        (limit,),
    ).fetchall()
    return [PendingRegistration(org=row[0], uuid=row[1], entry=_entry(row[2:])) for row in rows]


def count_pending(conn: sqlite3.Connection) -> int:
    count = conn.execute(
        "SELECT count(*) FROM scitt_entries INDEXED BY scitt_pending WHERE receipt IS NULL"
    ).fetchone()[0]
    assert isinstance(count, int)
    return count


def store_receipts(conn: sqlite3.Connection, receipts: Sequence[Receipt]) -> None:
    conn.executemany(
        "UPDATE scitt_entries SET receipt = ?"
        " WHERE org = ? AND uuid = ? AND entry_id = ? AND receipt IS NULL",
        [(item.receipt, item.org, item.uuid, item.entry_id) for item in receipts],
    )
