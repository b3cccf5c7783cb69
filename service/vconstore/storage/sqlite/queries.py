"""The SQL of the adapter: plain functions over a connection, run on the
writer or reader threads. Values are always bound, never formatted in."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from vconstore.domain.errors import VconNotFound
from vconstore.ports import (
    Cursor,
    DeletionEntry,
    ExistingVcon,
    Lineage,
    ListPage,
    ScittEntry,
    StoredVcon,
    VconFilter,
    VconListItem,
    VconRecord,
)
from vconstore.storage.normalise import fold, from_micros, tag_key, to_micros

from .scitt_queries import (
    CREATE_ENTRY_ORDER,
    ENTRY_COLUMNS,
    append_entry,
    create_entry,
    latest_entry,
)

__all__ = [
    "VconRow",
    "delete_vcon",
    "get_vcon",
    "insert_vcon",
    "lineage_of",
    "list_derivatives",
    "list_vcons",
    "ping",
    "vcon_exists",
]


@dataclass(frozen=True, slots=True)
class VconRow:
    """A VconRecord as columns, computed on the event loop before it is queued so a
    malformed record (a naive datetime) fails its own caller, not the writer."""

    org: str
    uuid: str
    vcon_json: str
    typed_pb: bytes
    parties_pb: bytes
    content_hash: str
    created_at: int
    received_at: int
    detected_version: str
    signed: int
    subject: str | None
    subject_folded: str | None
    names_folded: str
    # Deduplicated (kind, value) pairs, each a vcon_keys row.
    keys: tuple[tuple[str, str], ...]
    parent_uuid: str | None = None
    redaction_type: str | None = None

    @classmethod
    def from_record(cls, record: VconRecord) -> VconRow:
        return cls(
            org=record.org,
            uuid=record.uuid,
            vcon_json=record.vcon_json,
            typed_pb=bytes(record.typed_pb),
            parties_pb=bytes(record.parties_pb),
            content_hash=record.content_hash,
            created_at=to_micros(record.created_at),
            received_at=to_micros(record.received_at),
            detected_version=record.detected_version,
            signed=int(bool(record.signed)),
            subject=record.subject,
            subject_folded=None if record.subject is None else fold(record.subject),
            names_folded=NAME_SEPARATOR.join(fold(name) for name in record.party_names),
            keys=_search_keys(record),
            parent_uuid=None if record.lineage is None else record.lineage.parent_uuid,
            redaction_type=None if record.lineage is None else record.lineage.type,
        )


# Between party names in names_folded: a control character no name search
# contains (a search for one is refused upstream as matching nothing).
NAME_SEPARATOR = "\x1f"
KEY_KINDS = ("tel", "mailto", "tag", "tag_key")


def _search_keys(record: VconRecord) -> tuple[tuple[str, str], ...]:
    keys = [("tel", tel) for tel in record.party_tels]
    keys += [("mailto", mailto) for mailto in record.party_mailtos]
    keys += [("tag", tag) for tag in record.tags]
    keys += [("tag_key", tag_key(tag)) for tag in record.tags]
    return tuple(dict.fromkeys(keys))


def insert_vcon(
    conn: sqlite3.Connection, row: VconRow, scitt: ScittEntry | None
) -> ExistingVcon | None:
    # Check-then-insert is race-free: only the writer thread writes.
    found = conn.execute(
        "SELECT content_hash, created_at, detected_version FROM vcons WHERE org = ? AND uuid = ?",
        (row.org, row.uuid),
    ).fetchone()
    if found is not None:
        return ExistingVcon(
            uuid=row.uuid,
            content_hash=found[0],
            created_at=from_micros(found[1]),
            detected_version=found[2],
            scitt=latest_entry(conn, row.org, row.uuid),
        )
    conn.execute(
        "INSERT INTO vcons (org, uuid, vcon_json, typed_pb, parties_pb, content_hash,"
        " created_at, received_at, detected_version, signed, subject, subject_folded,"
        " names_folded, search_keys)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.org,
            row.uuid,
            row.vcon_json,
            row.typed_pb,
            row.parties_pb,
            row.content_hash,
            row.created_at,
            row.received_at,
            row.detected_version,
            row.signed,
            row.subject,
            row.subject_folded,
            row.names_folded,
            json.dumps(row.keys, ensure_ascii=False),
        ),
    )
    conn.executemany(
        "INSERT INTO vcon_keys (org, kind, value, uuid) VALUES (?, ?, ?, ?)",
        [(row.org, kind, value, row.uuid) for kind, value in row.keys],
    )
    if row.parent_uuid is not None:
        conn.execute(
            "INSERT OR REPLACE INTO vcon_lineage"
            " (org, child_uuid, parent_uuid, type, created_at) VALUES (?, ?, ?, ?, ?)",
            (row.org, row.uuid, row.parent_uuid, row.redaction_type, row.created_at),
        )
    if scitt is not None:
        append_entry(conn, row.org, row.uuid, scitt)
        if scitt.operation == "redact" and row.parent_uuid is not None:
            # The parent's history shows its redactions too: the same entry.
            append_entry(conn, row.org, row.parent_uuid, scitt)
    return None


def delete_vcon(
    conn: sqlite3.Connection, org: str, uuid: str, scitt: DeletionEntry | None
) -> ScittEntry | None:
    found = conn.execute(
        "SELECT search_keys, content_hash FROM vcons WHERE org = ? AND uuid = ?", (org, uuid)
    ).fetchone()
    if found is None:
        raise VconNotFound(uuid)
    conn.executemany(
        "DELETE FROM vcon_keys WHERE org = ? AND kind = ? AND value = ? AND uuid = ?",
        [(org, kind, value, uuid) for kind, value in json.loads(found[0])],
    )
    conn.execute("DELETE FROM vcons WHERE org = ? AND uuid = ?", (org, uuid))
    conn.execute("DELETE FROM vcon_lineage WHERE org = ? AND child_uuid = ?", (org, uuid))
    if scitt is None:
        return None
    # Signed here, inside the transaction, because the statement covers the
    # hash of exactly the content this transaction erases.
    entry = scitt(found[1])
    append_entry(conn, org, uuid, entry)
    return entry


def vcon_exists(conn: sqlite3.Connection, org: str, uuid: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM vcons WHERE org = ? AND uuid = ?", (org, uuid)).fetchone()
        is not None
    )


# The vCon and its newest ledger entry in one statement: a read is on the
# path of every GetVcon, and each statement is a round trip through the GIL.
_GET_VCON = (
    "SELECT v.vcon_json, v.typed_pb, v.signed, v.created_at, v.detected_version,"
    f" {', '.join('s.' + column for column in ENTRY_COLUMNS)}"
    " FROM vcons AS v LEFT JOIN scitt_entries AS s"
    " ON s.org = v.org AND s.uuid = v.uuid AND s.position ="
    " (SELECT position FROM scitt_entries WHERE org = v.org AND uuid = v.uuid"
    f" ORDER BY {CREATE_ENTRY_ORDER} LIMIT 1)"
    " WHERE v.org = ? AND v.uuid = ?"
)


def get_vcon(conn: sqlite3.Connection, org: str, uuid: str) -> StoredVcon:
    found = conn.execute(_GET_VCON, (org, uuid)).fetchone()
    if found is None:
        raise VconNotFound(uuid)
    return StoredVcon(
        uuid=uuid,
        vcon_json=found[0],
        typed_pb=found[1],
        signed=bool(found[2]),
        created_at=from_micros(found[3]),
        detected_version=found[4],
        scitt=create_entry(found[5:]),
    )


def ping(conn: sqlite3.Connection) -> None:
    # Touches the file (schema and first page), not just the library.
    conn.execute("SELECT 1 FROM vcons LIMIT 1").fetchall()


def _matching(org: str, where: VconFilter) -> tuple[str, dict[str, object]]:
    """The WHERE clause of a filter. Child-table filters are uncorrelated IN
    subqueries, which SQLite evaluates once and can drive the query from."""
    clauses = ["v.org = :org"]
    params: dict[str, object] = {"org": org}
    if where.created_after is not None:
        clauses.append("v.created_at >= :created_after")
        params["created_after"] = to_micros(where.created_after)
    if where.created_before is not None:
        clauses.append("v.created_at < :created_before")
        params["created_before"] = to_micros(where.created_before)
    for kind, value in (
        ("tel", where.party_tel),
        ("mailto", where.party_mailto),
        ("tag", where.tag),
        ("tag_key", where.tag_key),
    ):
        if value is not None:
            clauses.append(
                f"v.uuid IN (SELECT uuid FROM vcon_keys"
                f" WHERE org = :org AND kind = '{kind}' AND value = :{kind})"
            )
            params[kind] = value
    # instr() rather than LIKE: user input is matched literally (no % or _
    # wildcards to escape), and LIKE folds ASCII only.
    if where.party_name is not None:
        needle = fold(where.party_name)
        # A needle spanning the separator would match across two names.
        clauses.append(
            "instr(v.names_folded, :party_name) > 0" if NAME_SEPARATOR not in needle else "0"
        )
        params["party_name"] = needle
    if where.subject_contains is not None:
        clauses.append("instr(v.subject_folded, :subject_contains) > 0")
        params["subject_contains"] = fold(where.subject_contains)
    return " AND ".join(clauses), params


def _list_item(row: tuple[object, ...]) -> VconListItem:
    uuid, created_at, subject, detected_version, parties_pb, signed = row
    assert isinstance(uuid, str) and isinstance(created_at, int)
    assert subject is None or isinstance(subject, str)
    assert isinstance(detected_version, str) and isinstance(parties_pb, bytes)
    return VconListItem(
        uuid=uuid,
        created_at=from_micros(created_at),
        subject=subject,
        detected_version=detected_version,
        parties_pb=parties_pb,
        signed=bool(signed),
    )


def list_vcons(
    conn: sqlite3.Connection, org: str, where: VconFilter, after: Cursor | None, limit: int
) -> ListPage:
    condition, params = _matching(org, where)
    page_condition = condition
    if after is not None:
        page_condition += " AND (v.created_at, v.uuid) < (:after_created_at, :after_uuid)"
        params["after_created_at"] = to_micros(after.created_at)
        params["after_uuid"] = after.uuid
    # One more than asked tells whether more follow without a second query.
    params["limit"] = limit + 1
    # One read transaction: the page and the total come from the same snapshot.
    # (On failure the reader thread rolls it back.)
    conn.execute("BEGIN")
    rows = conn.execute(
        "SELECT v.uuid, v.created_at, v.subject, v.detected_version, v.parties_pb, v.signed"
        f" FROM vcons AS v WHERE {page_condition}"
        " ORDER BY v.created_at DESC, v.uuid DESC LIMIT :limit",
        params,
    ).fetchall()
    has_more = len(rows) > limit
    if after is None and not has_more:
        total = len(rows)  # the first page holds every match
    else:
        total = conn.execute(
            f"SELECT count(*) FROM vcons AS v WHERE {condition}", params
        ).fetchone()[0]
    conn.execute("COMMIT")
    return ListPage(
        items=[_list_item(row) for row in rows[:limit]],
        has_more=has_more,
        total=total,
    )


def list_derivatives(
    conn: sqlite3.Connection, org: str, uuid: str, after: Cursor | None, limit: int
) -> ListPage:
    params: dict[str, object] = {"org": org, "parent": uuid, "limit": limit + 1}
    condition = "l.org = :org AND l.parent_uuid = :parent"
    if after is not None:
        condition += " AND (l.created_at, l.child_uuid) < (:after_created_at, :after_uuid)"
        params["after_created_at"] = to_micros(after.created_at)
        params["after_uuid"] = after.uuid
    rows = conn.execute(
        "SELECT v.uuid, v.created_at, v.subject, v.detected_version, v.parties_pb, v.signed"
        " FROM vcon_lineage AS l JOIN vcons AS v ON v.org = l.org AND v.uuid = l.child_uuid"
        f" WHERE {condition} ORDER BY l.created_at DESC, l.child_uuid DESC LIMIT :limit",
        params,
    ).fetchall()
    return ListPage(items=[_list_item(row) for row in rows[:limit]], has_more=len(rows) > limit)


def lineage_of(conn: sqlite3.Connection, org: str, uuid: str) -> Lineage | None:
    row = conn.execute(
        "SELECT l.parent_uuid, l.type, v.uuid FROM vcons AS v LEFT JOIN vcon_lineage AS l"
        " ON l.org = v.org AND l.child_uuid = v.uuid WHERE v.org = ? AND v.uuid = ?",
        (org, uuid),
    ).fetchone()
    if row is None:
        raise VconNotFound(uuid)
    return None if row[0] is None else Lineage(parent_uuid=row[0], type=row[1])
