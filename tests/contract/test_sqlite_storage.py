"""SQLite only: storage failures become StorageUnavailable; erasure leaves no trace."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from vconstore.domain.errors import StorageUnavailable, VconNotFound
from vconstore.storage.sqlite import SqliteVconRepository

from .records import ORG, make_record, new_uuid

SECRET = "Personal-Data-3f9c2a"  # must never appear in an error message


def _files(path: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and shm."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    path.write_bytes(b"this is not an SQLite database " * 200)
    repo = SqliteVconRepository(path)

    with pytest.raises(StorageUnavailable) as raised:
        await repo.open()

    assert "SQLITE_NOTADB" in str(raised.value)


async def test_a_full_disk_fails_the_write_without_leaking_content(tmp_path: Path) -> None:
    repo = SqliteVconRepository(tmp_path / "vcons.sqlite3", max_bytes=256 * 1024)
    await repo.open()
    try:
        stored: list[str] = []
        with pytest.raises(StorageUnavailable) as raised:
            for _ in range(100):
                record = make_record(vcon_json=SECRET * 2000, subject=SECRET, tags=(SECRET,))
                await repo.insert(record=record)
                stored.append(record.uuid)

        assert stored, "the cap should allow a few vCons first"
        error = raised.value
        assert str(error) == "SQLite storage unavailable (SQLITE_FULL)"
        assert SECRET not in repr(error) and SECRET not in str(error.__cause__)
        # Reads go on, and freeing space makes writes work again.
        await repo.get(org=ORG, uuid=stored[0])
        await repo.ping()
        await repo.delete(org=ORG, uuid=stored[0])
        assert await repo.insert(record=make_record()) is None
    finally:
        await repo.close()


async def test_a_lock_held_too_long_fails_the_write(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    repo = SqliteVconRepository(path, lock_timeout=0.05)
    await repo.open()
    try:
        kept = make_record(subject=SECRET)
        await repo.insert(record=kept)
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

            with pytest.raises(StorageUnavailable) as raised:
                await repo.insert(record=make_record(subject=SECRET))
            # Readers are not blocked by a writer in WAL mode.
            assert (await repo.get(org=ORG, uuid=kept.uuid)).uuid == kept.uuid

            other.execute("ROLLBACK")
        assert str(raised.value) == "SQLite storage unavailable (SQLITE_BUSY)"
        assert await repo.insert(record=make_record()) is None
    finally:
        await repo.close()


async def test_delete_overwrites_the_erased_content_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    repo = SqliteVconRepository(path)
    await repo.open()
    try:
        neighbour = make_record(subject="kept")
        erased = make_record(
            vcon_json=f'{{"parties":[{{"name":"{SECRET}"}}]}}' * 300,  # spills to overflow pages
            typed_pb=SECRET.encode() * 10,
            subject=SECRET,
            party_names=(SECRET,),
            party_mailtos=(f"{SECRET}@example.com",),
            tags=(f"name:{SECRET}",),
        )
        await repo.insert(record=neighbour)
        await repo.insert(record=erased)
        assert SECRET.encode() in _files(path)
        secret_folded = SECRET.casefold().encode()
        assert secret_folded in _files(path)

        await repo.delete(org=ORG, uuid=erased.uuid)

        on_disk = _files(path)
        assert SECRET.encode() not in on_disk
        assert secret_folded not in on_disk
        assert (await repo.get(org=ORG, uuid=neighbour.uuid)).uuid == neighbour.uuid
        with pytest.raises(VconNotFound):
            await repo.get(org=ORG, uuid=erased.uuid)
    finally:
        await repo.close()


async def test_operations_before_open_are_unavailable(tmp_path: Path) -> None:
    repo = SqliteVconRepository(tmp_path / "vcons.sqlite3")
    with pytest.raises(StorageUnavailable):
        await repo.get(org=ORG, uuid=new_uuid())
    with pytest.raises(StorageUnavailable):
        await repo.insert(record=make_record())
