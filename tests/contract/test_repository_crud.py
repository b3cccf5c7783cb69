"""Contract: insert, get, delete, organisation isolation, concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from vconstore.domain.errors import StorageUnavailable, VconNotFound
from vconstore.ports import (
    ExistingVcon,
    StoredVcon,
    VconFilter,
    VconListItem,
    VconRepository,
)

from .records import BASE_TIME, ORG, OTHER_ORG, at, make_record, new_uuid

# Astral plane (G clef, emoji), right-to-left, combining marks, escaped controls.
UNICODE_JSON = (
    '{"vcon":"0.3.0",'
    '"subject":"\U0001d11e \U0001f600 \u05e9\u05dc\u05d5\u05dd e\u0301",'
    '"note":"tab\\t nul\\u0000 \\ud83d\\ude00",'
    '"parties":[{"name":"Zo\u00eb \U0001f468\u200d\U0001f469"}]}'
)


async def test_insert_then_get_round_trips_every_field(repo: VconRepository) -> None:
    # A non-UTC offset and microseconds: the instant must survive, not the zone label.
    created = datetime(2023, 2, 28, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5)))
    record = make_record(
        vcon_json=UNICODE_JSON,
        typed_pb=bytes(range(256)) * 3,
        parties_pb=b"\x00\xff\x00",
        content_hash="sha256:" + "0f" * 32,
        created_at=created,
        detected_version="0.4.0",
        signed=True,
        subject="Caf\u00e9 \U0001f600",
    )

    assert await repo.insert(record=record) is None

    assert await repo.get(org=ORG, uuid=record.uuid) == StoredVcon(
        uuid=record.uuid,
        vcon_json=UNICODE_JSON,
        typed_pb=bytes(range(256)) * 3,
        signed=True,
        created_at=created,
        detected_version="0.4.0",
    )
    stored = await repo.get(org=ORG, uuid=record.uuid)
    assert stored.vcon_json.encode("utf-8") == UNICODE_JSON.encode("utf-8")
    assert type(stored.typed_pb) is bytes
    assert stored.created_at.utcoffset() is not None
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=10)
    assert page.items == [
        VconListItem(
            uuid=record.uuid,
            created_at=created,
            subject="Caf\u00e9 \U0001f600",
            detected_version="0.4.0",
            parties_pb=b"\x00\xff\x00",
            signed=True,
        )
    ]
    # content_hash is reported back through the duplicate answer.
    existing = await repo.insert(record=record)
    assert existing == ExistingVcon(
        uuid=record.uuid,
        content_hash="sha256:" + "0f" * 32,
        created_at=created,
        detected_version="0.4.0",
    )


async def test_empty_and_absent_optional_fields_round_trip(repo: VconRepository) -> None:
    record = make_record(typed_pb=b"", parties_pb=b"", subject=None, signed=False)
    await repo.insert(record=record)

    stored = await repo.get(org=ORG, uuid=record.uuid)
    assert (stored.typed_pb, stored.signed) == (b"", False)
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=1)
    assert (page.items[0].subject, page.items[0].parties_pb) == (None, b"")


async def test_get_missing_raises_not_found(repo: VconRepository) -> None:
    missing = new_uuid()
    with pytest.raises(VconNotFound) as raised:
        await repo.get(org=ORG, uuid=missing)
    assert raised.value.uuid == missing


async def test_same_uuid_in_two_orgs_is_two_vcons(repo: VconRepository) -> None:
    uuid = new_uuid()
    first = make_record(org=ORG, uuid=uuid, vcon_json='{"org":"a"}', subject="a")
    second = make_record(org=OTHER_ORG, uuid=uuid, vcon_json='{"org":"b"}', subject="b")

    assert await repo.insert(record=first) is None
    assert await repo.insert(record=second) is None

    assert (await repo.get(org=ORG, uuid=uuid)).vcon_json == '{"org":"a"}'
    assert (await repo.get(org=OTHER_ORG, uuid=uuid)).vcon_json == '{"org":"b"}'
    await repo.delete(org=ORG, uuid=uuid)
    assert (await repo.get(org=OTHER_ORG, uuid=uuid)).vcon_json == '{"org":"b"}'


async def test_an_org_never_sees_another_orgs_vcons(repo: VconRepository) -> None:
    record = make_record(org=ORG, party_tels=("+15551234567",), tags=("team:a",))
    await repo.insert(record=record)

    with pytest.raises(VconNotFound):
        await repo.get(org=OTHER_ORG, uuid=record.uuid)
    with pytest.raises(VconNotFound):
        await repo.delete(org=OTHER_ORG, uuid=record.uuid)
    for where in (
        VconFilter(),
        VconFilter(party_tel="+15551234567"),
        VconFilter(tag="team:a"),
        VconFilter(tag_key="team"),
    ):
        page = await repo.list(org=OTHER_ORG, filter=where, after=None, limit=10)
        assert (page.items, page.has_more, page.total) == ([], False, 0)
    # The failed delete from the other org erased nothing.
    assert (await repo.get(org=ORG, uuid=record.uuid)).vcon_json == record.vcon_json


async def test_insert_duplicate_returns_existing_and_keeps_the_original(
    repo: VconRepository,
) -> None:
    original = make_record(created_at=at(1), subject="original", tags=("k:original",))
    await repo.insert(record=original)
    retry = make_record(
        uuid=original.uuid,
        vcon_json='{"changed":true}',
        typed_pb=b"changed",
        content_hash="sha256:" + "cd" * 32,
        created_at=at(99),
        detected_version="0.4.0",
        subject="changed",
        tags=("k:changed",),
    )

    existing = await repo.insert(record=retry)

    assert existing == ExistingVcon(
        uuid=original.uuid,
        content_hash=original.content_hash,
        created_at=original.created_at,
        detected_version=original.detected_version,
    )
    stored = await repo.get(org=ORG, uuid=original.uuid)
    assert (stored.vcon_json, stored.typed_pb) == (original.vcon_json, original.typed_pb)
    changed = await repo.list(org=ORG, filter=VconFilter(tag="k:changed"), after=None, limit=5)
    assert changed.total == 0
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=5)
    assert [(i.subject, i.created_at) for i in page.items] == [("original", at(1))]


async def test_delete_then_reinsert_the_same_uuid(repo: VconRepository) -> None:
    first = make_record(vcon_json='{"v":1}', tags=("old:tag",), party_names=("Old Name",))
    await repo.insert(record=first)

    await repo.delete(org=ORG, uuid=first.uuid)

    with pytest.raises(VconNotFound):
        await repo.get(org=ORG, uuid=first.uuid)
    again = make_record(uuid=first.uuid, vcon_json='{"v":2}', tags=("new:tag",))
    assert await repo.insert(record=again) is None
    assert (await repo.get(org=ORG, uuid=first.uuid)).vcon_json == '{"v":2}'
    # The erased vCon's search keys went with it.
    for where in (VconFilter(tag="old:tag"), VconFilter(party_name="old name")):
        assert (await repo.list(org=ORG, filter=where, after=None, limit=5)).total == 0
    assert (await repo.list(org=ORG, filter=VconFilter(tag="new:tag"), after=None, limit=5)).total


async def test_delete_missing_raises_not_found(repo: VconRepository) -> None:
    record = make_record()
    await repo.insert(record=record)
    await repo.delete(org=ORG, uuid=record.uuid)

    with pytest.raises(VconNotFound):
        await repo.delete(org=ORG, uuid=record.uuid)
    with pytest.raises(VconNotFound):
        await repo.delete(org=ORG, uuid=new_uuid())


async def test_deleted_vcon_leaves_every_list(repo: VconRepository) -> None:
    kept = make_record(created_at=at(1), tags=("t:1",))
    erased = make_record(created_at=at(2), tags=("t:1",), party_tels=("+1",))
    for record in (kept, erased):
        await repo.insert(record=record)

    await repo.delete(org=ORG, uuid=erased.uuid)

    for where in (VconFilter(), VconFilter(tag="t:1"), VconFilter(tag_key="t")):
        page = await repo.list(org=ORG, filter=where, after=None, limit=5)
        assert ([i.uuid for i in page.items], page.total) == ([kept.uuid], 1)
    by_tel = await repo.list(org=ORG, filter=VconFilter(party_tel="+1"), after=None, limit=5)
    assert by_tel.total == 0


async def test_64_concurrent_inserts_all_succeed(repo: VconRepository) -> None:
    records = [make_record(created_at=at(i % 5), subject=f"s{i}") for i in range(64)]

    results = await asyncio.gather(*(repo.insert(record=r) for r in records))

    assert results == [None] * 64
    stored = await asyncio.gather(*(repo.get(org=ORG, uuid=r.uuid) for r in records))
    assert [s.vcon_json for s in stored] == [r.vcon_json for r in records]
    assert (await repo.list(org=ORG, filter=VconFilter(), after=None, limit=1)).total == 64


async def test_concurrent_inserts_of_one_uuid_store_it_once(repo: VconRepository) -> None:
    uuid = new_uuid()
    attempts = [make_record(uuid=uuid, vcon_json=f'{{"attempt":{i}}}') for i in range(16)]

    results = await asyncio.gather(*(repo.insert(record=r) for r in attempts))

    winners = [i for i, result in enumerate(results) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, ExistingVcon) for i, r in enumerate(results) if i != winners[0])
    stored = await repo.get(org=ORG, uuid=uuid)
    assert stored.vcon_json == attempts[winners[0]].vcon_json


async def test_one_failing_write_does_not_fail_concurrent_ones(repo: VconRepository) -> None:
    existing = make_record()
    await repo.insert(record=existing)
    fresh = [make_record() for _ in range(8)]

    results = await asyncio.gather(
        repo.insert(record=fresh[0]),
        repo.insert(record=existing),
        repo.delete(org=ORG, uuid=new_uuid()),
        *(repo.insert(record=r) for r in fresh[1:]),
        return_exceptions=True,
    )

    assert results[0] is None
    assert isinstance(results[1], ExistingVcon)
    assert isinstance(results[2], VconNotFound)
    assert results[3:] == [None] * 7
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=20)
    assert page.total == 9


async def test_naive_datetimes_are_refused(repo: VconRepository) -> None:
    naive = datetime(2024, 1, 1, 12, 0)  # the point of the test
    with pytest.raises(ValueError):
        await repo.insert(record=make_record(created_at=naive))
    with pytest.raises(ValueError):
        await repo.list(org=ORG, filter=VconFilter(created_after=naive), after=None, limit=5)


async def test_instants_compare_in_utc_whatever_their_offset(repo: VconRepository) -> None:
    plus_two = timezone(timedelta(hours=2))
    # 13:00+02:00 is 11:00Z, before BASE_TIME (12:00Z) although its wall clock is later.
    early = make_record(created_at=datetime(2024, 5, 1, 13, 0, tzinfo=plus_two))
    late = make_record(created_at=BASE_TIME)
    for record in (early, late):
        await repo.insert(record=record)

    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=5)

    assert [i.uuid for i in page.items] == [late.uuid, early.uuid]
    assert page.items[1].created_at == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


async def test_limit_below_one_is_refused(repo: VconRepository) -> None:
    with pytest.raises(ValueError):
        await repo.list(org=ORG, filter=VconFilter(), after=None, limit=0)


async def test_open_is_idempotent_and_ping_answers(repo: VconRepository) -> None:
    record = make_record()
    await repo.insert(record=record)

    await repo.open()

    await repo.ping()
    assert (await repo.get(org=ORG, uuid=record.uuid)).uuid == record.uuid


async def test_a_closed_repository_is_unavailable(repo: VconRepository) -> None:
    await repo.close()

    with pytest.raises(StorageUnavailable):
        await repo.ping()
    with pytest.raises(StorageUnavailable):
        await repo.get(org=ORG, uuid=new_uuid())
    with pytest.raises(StorageUnavailable):
        await repo.insert(record=make_record())
