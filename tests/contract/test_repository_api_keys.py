"""API keys under contract, on every backend: stored as a hash only, found by
their public prefix across organisations, listed and revoked per
organisation only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vconstore.auth.keys import generate_key, key_hash, key_id, public_prefix
from vconstore.domain.errors import ApiKeyNotFound
from vconstore.ports import ApiKeyRecord, Cursor, Storage
from vconstore.storage.sqlite import SqliteVconRepository

from .records import ORG, OTHER_ORG, at


def make_key(
    org: str = ORG, *, seconds: float = 0, key: str | None = None, scopes: tuple[str, ...] = ()
) -> tuple[ApiKeyRecord, str]:
    key = key or generate_key()
    record = ApiKeyRecord(
        id=key_id(),
        org=org,
        name=f"key made at {seconds}",
        prefix=public_prefix(key),
        key_hash=key_hash(key),
        scopes=scopes or ("vcons:read", "vcons:write"),
        created_at=at(seconds),
    )
    return record, key


async def test_a_created_key_is_found_by_its_prefix_in_any_organisation(repo: Storage) -> None:
    record, key = make_key(OTHER_ORG)
    await repo.create_api_key(record=record)
    found = await repo.find_api_keys(prefix=public_prefix(key))
    assert list(found) == [record]
    assert list(await repo.find_api_keys(prefix="vcs_live_sk_zzzz")) == []


async def test_keys_sharing_a_prefix_are_all_found(repo: Storage) -> None:
    """The prefix has only 4 random characters: collisions must still resolve."""
    first, first_key = make_key()
    second, _ = make_key(OTHER_ORG, key=first_key[:16] + "Q" * 40)
    await repo.create_api_key(record=first)
    await repo.create_api_key(record=second)
    found = await repo.find_api_keys(prefix=first.prefix)
    assert sorted(r.id for r in found) == sorted([first.id, second.id])


async def test_the_same_key_or_id_cannot_be_stored_twice(repo: Storage) -> None:
    record, key = make_key()
    await repo.create_api_key(record=record)
    same_key_elsewhere, _ = make_key(OTHER_ORG, key=key)
    with pytest.raises(ValueError):
        await repo.create_api_key(record=same_key_elsewhere)
    same_id = dataclasses.replace(make_key()[0], id=record.id)
    with pytest.raises(ValueError):
        await repo.create_api_key(record=same_id)
    assert [r.id for r in await repo.find_api_keys(prefix=record.prefix)] == [record.id]


async def test_listing_is_per_organisation_oldest_first_and_pages(repo: Storage) -> None:
    ours = [make_key(seconds=s)[0] for s in (30, 10, 20, 20)]
    theirs = make_key(OTHER_ORG, seconds=15)[0]
    for record in (*ours, theirs):
        await repo.create_api_key(record=record)
    expected = sorted(ours, key=lambda r: (r.created_at, r.id))
    page = await repo.list_api_keys(org=ORG, after=None, limit=3)
    assert page.items == expected[:3] and page.has_more
    last = page.items[-1]
    rest = await repo.list_api_keys(
        org=ORG, after=Cursor(created_at=last.created_at, uuid=last.id), limit=3
    )
    assert rest.items == expected[3:] and not rest.has_more
    assert (await repo.list_api_keys(org=OTHER_ORG, after=None, limit=10)).items == [theirs]
    assert (await repo.list_api_keys(org="nobody", after=None, limit=10)).items == []


async def test_a_revocation_is_kept_and_only_the_owner_can_make_it(repo: Storage) -> None:
    record, _ = make_key()
    await repo.create_api_key(record=record)
    with pytest.raises(ApiKeyNotFound):
        await repo.revoke_api_key(org=OTHER_ORG, key_id=record.id, at=at(5))
    with pytest.raises(ApiKeyNotFound):
        await repo.revoke_api_key(org=ORG, key_id="key_missing", at=at(5))
    (unchanged,) = await repo.find_api_keys(prefix=record.prefix)
    assert unchanged.revoked_at is None
    revoked = await repo.revoke_api_key(org=ORG, key_id=record.id, at=at(5))
    assert revoked.revoked_at == at(5)
    # Revoking again changes nothing: the first revocation time stays.
    again = await repo.revoke_api_key(org=ORG, key_id=record.id, at=at(9))
    assert again.revoked_at == at(5)
    (found,) = await repo.find_api_keys(prefix=record.prefix)
    assert found == dataclasses.replace(record, revoked_at=at(5))


async def test_last_use_only_moves_forward(repo: Storage) -> None:
    record, _ = make_key()
    await repo.create_api_key(record=record)
    await repo.touch_api_keys(used=[(record.id, at(50))])
    await repo.touch_api_keys(used=[(record.id, at(40)), ("key_unknown", at(60))])
    (found,) = await repo.find_api_keys(prefix=record.prefix)
    assert found.last_used_at == at(50)
    await repo.touch_api_keys(used=[(record.id, at(70))])
    (found,) = await repo.find_api_keys(prefix=record.prefix)
    assert found.last_used_at == at(70)
    await repo.touch_api_keys(used=[])


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


async def test_nothing_stored_holds_the_key_itself(tmp_path: Path) -> None:
    """Only the SHA-256: the key's secret part is nowhere in the database files."""
    path = tmp_path / "keys.sqlite3"
    repository = SqliteVconRepository(path)
    await repository.open()
    record, key = make_key()
    try:
        await repository.create_api_key(record=record)
    finally:
        await repository.close()
    stored = _all_bytes(tmp_path)
    assert record.prefix.encode() in stored
    assert key[16:].encode() not in stored and key[12:20].encode() not in stored
    reopened = SqliteVconRepository(path)
    await reopened.open()
    try:
        assert list(await reopened.find_api_keys(prefix=record.prefix)) == [record]
    finally:
        await reopened.close()
