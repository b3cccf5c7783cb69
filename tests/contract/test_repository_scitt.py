"""The ledger-entry outbox under contract: entries are written atomically with
their operation, outlive the vCon, and move from pending to receipted."""

from __future__ import annotations

import hashlib

import pytest

from vconstore.domain.errors import VconNotFound
from vconstore.ports import Cursor, Receipt, ScittEntry, VconFilter, VconRepository

from .records import ORG, OTHER_ORG, at, make_record, new_uuid


def make_entry(operation: str = "register", *, seconds: float = 0, salt: str = "") -> ScittEntry:
    statement = f"{operation}:{seconds}:{salt}:{new_uuid()}".encode()
    return ScittEntry(
        entry_id="sha256:" + hashlib.sha256(b"\x00" + statement).hexdigest(),
        operation=operation,
        statement=statement,
        created_at=at(seconds),
    )


async def test_an_insert_stores_its_entry_as_pending(repo: VconRepository) -> None:
    record = make_record()
    entry = make_entry()
    assert await repo.insert(record=record, scitt=entry) is None
    stored = await repo.get(org=ORG, uuid=record.uuid)
    assert stored.scitt == entry
    page = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert page.entries == [entry] and not page.has_more
    pending = await repo.pending_registrations(limit=10)
    assert [(p.org, p.uuid, p.entry) for p in pending] == [(ORG, record.uuid, entry)]
    assert await repo.count_pending() == 1


async def test_an_insert_without_an_entry_has_none(repo: VconRepository) -> None:
    record = make_record()
    await repo.insert(record=record)
    assert (await repo.get(org=ORG, uuid=record.uuid)).scitt is None
    with pytest.raises(VconNotFound):
        await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert await repo.count_pending() == 0


async def test_a_repeated_insert_reports_the_first_entry_and_writes_none(
    repo: VconRepository,
) -> None:
    record = make_record()
    first = make_entry()
    await repo.insert(record=record, scitt=first)
    existing = await repo.insert(record=record, scitt=make_entry(seconds=5))
    assert existing is not None and existing.scitt == first
    page = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert page.entries == [first]


async def test_a_deletion_signs_the_erased_content_hash_and_keeps_the_history(
    repo: VconRepository,
) -> None:
    record = make_record(content_hash="sha256:" + "cd" * 32)
    created = make_entry()
    await repo.insert(record=record, scitt=created)
    seen: list[str] = []
    deletion = make_entry("delete", seconds=10)

    def sign(content_hash: str) -> ScittEntry:
        seen.append(content_hash)
        return deletion

    assert await repo.delete(org=ORG, uuid=record.uuid, scitt=sign) == deletion
    assert seen == [record.content_hash]
    assert not await repo.exists(org=ORG, uuid=record.uuid)
    with pytest.raises(VconNotFound):
        await repo.get(org=ORG, uuid=record.uuid)
    page = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert page.entries == [created, deletion]
    # The uuid can be created again; its history goes on.
    again = make_entry(seconds=20)
    assert await repo.insert(record=record, scitt=again) is None
    assert (await repo.get(org=ORG, uuid=record.uuid)).scitt == again
    page = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert page.entries == [created, deletion, again]


async def test_deleting_a_missing_vcon_signs_nothing(repo: VconRepository) -> None:
    def sign(content_hash: str) -> ScittEntry:
        raise AssertionError("nothing to sign")

    uuid = new_uuid()
    with pytest.raises(VconNotFound):
        await repo.delete(org=ORG, uuid=uuid, scitt=sign)
    with pytest.raises(VconNotFound):
        await repo.list_scitt(org=ORG, uuid=uuid, after=None, limit=10)


async def test_a_deletion_without_an_entry_records_none(repo: VconRepository) -> None:
    record = make_record()
    created = make_entry()
    await repo.insert(record=record, scitt=created)
    assert await repo.delete(org=ORG, uuid=record.uuid) is None
    page = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=10)
    assert page.entries == [created]


async def test_receipts_end_pending(repo: VconRepository) -> None:
    records = [make_record() for _ in range(3)]
    entries = [make_entry(seconds=i) for i in range(3)]
    for record, entry in zip(records, entries, strict=True):
        await repo.insert(record=record, scitt=entry)
    receipt = Receipt(org=ORG, uuid=records[1].uuid, entry_id=entries[1].entry_id, receipt=b"r1")
    unknown = Receipt(org=ORG, uuid=new_uuid(), entry_id=entries[0].entry_id, receipt=b"x")
    await repo.store_receipts(receipts=[receipt, unknown])
    await repo.store_receipts(receipts=[receipt])  # idempotent
    pending = await repo.pending_registrations(limit=10)
    assert [p.entry.entry_id for p in pending] == [entries[0].entry_id, entries[2].entry_id]
    assert await repo.count_pending() == 2
    stored = await repo.get(org=ORG, uuid=records[1].uuid)
    assert stored.scitt is not None and stored.scitt.receipt == b"r1"
    # A receipt is kept once stored: another one for the same entry changes nothing.
    await repo.store_receipts(receipts=[Receipt(ORG, records[1].uuid, entries[1].entry_id, b"r2")])
    page = await repo.list_scitt(org=ORG, uuid=records[1].uuid, after=None, limit=10)
    assert page.entries[0].receipt == b"r1"


async def test_pending_registrations_come_oldest_first_across_organisations(
    repo: VconRepository,
) -> None:
    expected = []
    for seconds, org in ((30, ORG), (10, OTHER_ORG), (20, ORG)):
        record = make_record(org=org)
        entry = make_entry(seconds=seconds)
        await repo.insert(record=record, scitt=entry)
        expected.append((seconds, org, record.uuid, entry.entry_id))
    expected.sort()
    pending = await repo.pending_registrations(limit=2)
    assert [(p.org, p.uuid, p.entry.entry_id) for p in pending] == [
        item[1:] for item in expected[:2]
    ]


async def test_entries_page_oldest_first(repo: VconRepository) -> None:
    record = make_record()
    history = [make_entry(seconds=0)]
    await repo.insert(record=record, scitt=history[0])
    for round_ in range(2):
        deletion = make_entry("delete", seconds=10 * round_ + 5)
        await repo.delete(org=ORG, uuid=record.uuid, scitt=lambda _hash, d=deletion: d)
        created = make_entry(seconds=10 * round_ + 10)
        await repo.insert(record=record, scitt=created)
        history += [deletion, created]
    first = await repo.list_scitt(org=ORG, uuid=record.uuid, after=None, limit=2)
    assert first.entries == history[:2] and first.has_more
    second = await repo.list_scitt(org=ORG, uuid=record.uuid, after=1, limit=2)
    assert second.entries == history[2:4] and second.has_more
    last = await repo.list_scitt(org=ORG, uuid=record.uuid, after=3, limit=2)
    assert last.entries == history[4:] and not last.has_more
    beyond = await repo.list_scitt(org=ORG, uuid=record.uuid, after=9, limit=2)
    assert beyond.entries == [] and not beyond.has_more


async def test_entries_belong_to_their_organisation(repo: VconRepository) -> None:
    record = make_record()
    await repo.insert(record=record, scitt=make_entry())
    with pytest.raises(VconNotFound):
        await repo.list_scitt(org=OTHER_ORG, uuid=record.uuid, after=None, limit=10)
    assert not await repo.exists(org=OTHER_ORG, uuid=record.uuid)
    assert await repo.exists(org=ORG, uuid=record.uuid)


async def test_a_vcon_created_again_without_an_entry_reports_none(repo: VconRepository) -> None:
    record = make_record()
    await repo.insert(record=record, scitt=make_entry())
    await repo.delete(
        org=ORG, uuid=record.uuid, scitt=lambda _hash: make_entry("delete", seconds=5)
    )
    assert await repo.insert(record=record) is None
    assert (await repo.get(org=ORG, uuid=record.uuid)).scitt is None
    existing = await repo.insert(record=record)
    assert existing is not None and existing.scitt is None


async def test_deleted_vcons_are_gone_from_lists_and_totals(repo: VconRepository) -> None:
    kept, deleted = make_record(subject="kept"), make_record(subject="deleted")
    for record in (kept, deleted):
        await repo.insert(record=record, scitt=make_entry(salt=record.uuid))
    await repo.delete(
        org=ORG, uuid=deleted.uuid, scitt=lambda _hash: make_entry("delete", seconds=9)
    )
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=10)
    assert [item.uuid for item in page.items] == [kept.uuid] and page.total == 1
    by_subject = await repo.list(
        org=ORG, filter=VconFilter(subject_contains="deleted"), after=None, limit=10
    )
    assert by_subject.items == [] and by_subject.total == 0
    after = Cursor(created_at=kept.created_at, uuid="f" * 36)
    paged = await repo.list(org=ORG, filter=VconFilter(), after=after, limit=10)
    assert [item.uuid for item in paged.items] == [kept.uuid] and paged.total == 1
