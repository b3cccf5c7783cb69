"""The SQL of API keys (table api_keys)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from vconstore.domain.errors import ApiKeyNotFound
from vconstore.ports import ApiKeyPage, ApiKeyRecord, Cursor
from vconstore.storage.normalise import from_micros, to_micros

__all__ = ["create_key", "find_keys", "list_keys", "revoke_key", "touch_keys"]

_COLUMNS = "id, org, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at"


def _record(row: tuple[object, ...]) -> ApiKeyRecord:
    key_id, org, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at = row
    assert isinstance(key_id, str) and isinstance(org, str) and isinstance(name, str)
    assert isinstance(prefix, str) and isinstance(key_hash, bytes) and isinstance(scopes, str)
    assert isinstance(created_at, int)
    assert last_used_at is None or isinstance(last_used_at, int)
    assert revoked_at is None or isinstance(revoked_at, int)
    return ApiKeyRecord(
        id=key_id,
        org=org,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=tuple(scopes.split(",")) if scopes else (),
        created_at=from_micros(created_at),
        last_used_at=None if last_used_at is None else from_micros(last_used_at),
        revoked_at=None if revoked_at is None else from_micros(revoked_at),
    )


def create_key(conn: sqlite3.Connection, record: ApiKeyRecord) -> None:
    try:
        conn.execute(
            f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.org,
                record.name,
                record.prefix,
                record.key_hash,
                ",".join(record.scopes),
                to_micros(record.created_at),
                None if record.last_used_at is None else to_micros(record.last_used_at),
                None if record.revoked_at is None else to_micros(record.revoked_at),
            ),
        )
    except sqlite3.IntegrityError:
        raise ValueError("an API key with this id or this key exists") from None


def find_keys(conn: sqlite3.Connection, prefix: str) -> list[ApiKeyRecord]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE prefix = ?", (prefix,))
    return [_record(row) for row in rows]


def list_keys(conn: sqlite3.Connection, org: str, after: Cursor | None, limit: int) -> ApiKeyPage:
    if after is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE org = ? ORDER BY created_at, id LIMIT ?",
            (org, limit + 1),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE org = ? AND (created_at, id) > (?, ?)"
            " ORDER BY created_at, id LIMIT ?",
            (org, to_micros(after.created_at), after.uuid, limit + 1),
        ).fetchall()
    return ApiKeyPage(items=[_record(row) for row in rows[:limit]], has_more=len(rows) > limit)


def revoke_key(conn: sqlite3.Connection, org: str, key_id: str, at: datetime) -> ApiKeyRecord:
    conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE org = ? AND id = ? AND revoked_at IS NULL",
        (to_micros(at), org, key_id),
    )
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE org = ? AND id = ?", (org, key_id)
    ).fetchone()
    if row is None:
        raise ApiKeyNotFound(key_id)
    return _record(row)


def touch_keys(conn: sqlite3.Connection, used: Sequence[tuple[str, datetime]]) -> None:
    conn.executemany(
        "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2"
        " AND (last_used_at IS NULL OR last_used_at < ?1)",
        [(to_micros(at), key_id) for key_id, at in used],
    )
