"""SQLite only: the schema version and the migrations run at open()."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from vconstore.ports import VconFilter
from vconstore.storage.sqlite import LATEST_VERSION, SchemaTooNew, SqliteVconRepository
from vconstore.storage.sqlite.migrations import MIGRATIONS, migrate, schema_version

from .records import ORG, at, make_record


def _connect(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def _indexes(path: Path) -> set[str]:
    with _connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_autoindex")}


def test_migrations_are_numbered_in_order_from_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == LATEST_VERSION


async def test_a_new_file_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "vcons.sqlite3"
    repo = SqliteVconRepository(path)
    await repo.open()
    await repo.close()

    with _connect(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_an_old_file_is_migrated_at_open_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    # A vCon written by a version-1 vconstore, as version 1 stored it.
    conn.execute(
        "INSERT INTO vcons (org, uuid, created_at, received_at, detected_version, signed,"
        " content_hash, subject, subject_folded, names_folded, search_keys, parties_pb,"
        " typed_pb, vcon_json)"
        " VALUES ('org-a', 'u-1', 1714564800000000, 1714564800000000, '0.0.1', 0,"
        " 'sha256:00', 'Old subject', 'old subject', '', '[[\"tag_key\",\"legacy\"]]',"
        " x'02', x'01', '{\"v\":1}')"
    )
    conn.execute("INSERT INTO vcon_keys VALUES ('org-a', 'tag_key', 'legacy', 'u-1')")
    conn.close()
    assert _indexes(path) == set()

    repo = SqliteVconRepository(path)
    await repo.open()
    try:
        stored = await repo.get(org=ORG, uuid="u-1")
        assert (stored.vcon_json, stored.typed_pb, stored.created_at) == ('{"v":1}', b"\x01", at(0))
        page = await repo.list(org=ORG, filter=VconFilter(tag_key="legacy"), after=None, limit=5)
        assert [i.uuid for i in page.items] == ["u-1"]
        await repo.insert(record=make_record(tags=("new:yes",)))
    finally:
        await repo.close()

    with _connect(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
    assert "vcons_by_created" in _indexes(path)


async def test_reopening_a_current_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    record = make_record()
    for _ in range(2):
        repo = SqliteVconRepository(path)
        await repo.open()
        await repo.insert(record=record)
        await repo.close()

    repo = SqliteVconRepository(path)
    await repo.open()
    try:
        assert (await repo.get(org=ORG, uuid=record.uuid)).vcon_json == record.vcon_json
    finally:
        await repo.close()


async def test_a_file_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    with _connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 7}")

    repo = SqliteVconRepository(path)
    with pytest.raises(SchemaTooNew) as raised:
        await repo.open()

    message = str(raised.value)
    assert f"version {LATEST_VERSION + 7}" in message
    assert "upgrade vconstore" in message
    with _connect(path) as conn:
        assert schema_version(conn) == LATEST_VERSION + 7
        assert conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    await repo.close()  # closing a repository that never opened is harmless


def test_a_failing_step_leaves_the_file_at_its_old_version(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    # Something already named like the version-2 index makes step 2 fail.
    conn.execute("CREATE INDEX vcons_by_created ON vcons (uuid)")

    with pytest.raises(sqlite3.OperationalError):
        migrate(conn)

    assert schema_version(conn) == 1
    conn.close()
