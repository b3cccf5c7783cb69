"""MongoDB adapter specifics: the stored document, indexes, the 16 MiB rule,
duplicate-key races, and outages. Run on the real server when
VCON_TEST_MONGODB_URI is set, else on the stand-in; outages can only be staged
on the stand-in (tests/contract/test_mongo_connection.py covers the real
client against a refused port)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.mongo_standin import StandInCollection
from tests.support import MONGODB_TEST_URI
from vconstore.domain.errors import LimitExceeded, StorageUnavailable
from vconstore.ports import ExistingVcon, VconFilter
from vconstore.storage.mongo import MAX_DOCUMENT_BYTES
from vconstore.storage.mongo.indexes import INDEXES, ORG_UUID
from vconstore.storage.normalise import to_micros

from .mongo_setup import mongo_under_test
from .records import ORG, make_record, new_uuid

needs_standin = pytest.mark.skipif(
    bool(MONGODB_TEST_URI), reason="outages can only be staged on the in-process stand-in"
)


async def test_the_stored_document_layout() -> None:
    created = datetime(2024, 2, 29, 23, 59, 59, 123_456, tzinfo=timezone(timedelta(hours=-5)))
    record = make_record(
        created_at=created,
        subject="Straße",
        party_names=("Ann", "ANN", "Bob"),
        party_tels=("+1", "+1", "+2"),
        party_mailtos=("a@example.com",),
        tags=("k:a", "k:b", "solo"),
        typed_pb=b"\x00typed",
        parties_pb=b"\x00parties",
        signed=True,
    )
    async with mongo_under_test() as mongo:
        await mongo.repository.insert(record=record)
        raw = await mongo.collection.find_one({"uuid": record.uuid})

    assert raw is not None
    assert set(raw) == {
        "_id",
        "org",
        "uuid",
        "created_us",
        "created_at",
        "received_us",
        "received_at",
        "detected_version",
        "signed",
        "content_hash",
        "subject",
        "subject_folded",
        "names_folded",
        "party_tels",
        "party_mailtos",
        "tags",
        "tag_keys",
        "parties_pb",
        "typed_pb",
        "vcon_json",
        "lineage",
        "ledger",
        "format",
    }
    # Exact microseconds in the integer; the BSON date keeps milliseconds only.
    assert raw["created_us"] == to_micros(created)
    assert raw["created_at"].replace(tzinfo=UTC) == created.astimezone(UTC).replace(
        microsecond=123_000
    )
    assert raw["received_us"] == to_micros(record.received_at)
    assert (raw["org"], raw["vcon_json"], raw["signed"]) == (ORG, record.vcon_json, True)
    assert (raw["typed_pb"], raw["parties_pb"]) == (b"\x00typed", b"\x00parties")
    assert (raw["subject"], raw["subject_folded"]) == ("Straße", "strasse")
    assert raw["names_folded"] == ["ann", "bob"]
    assert raw["party_tels"] == ["+1", "+2"]
    assert raw["tags"] == ["k:a", "k:b", "solo"]
    assert raw["tag_keys"] == ["k", "solo"]
    assert (raw["lineage"], raw["ledger"], raw["format"]) == (None, None, 1)


async def test_member_names_mongodb_restricts_are_kept_exactly() -> None:
    text = '{"$schema":"s","a.b":{"$ref":"#/x","..":[1.0,1e400]},"uuid" : "\\u0041"}'
    record = make_record(vcon_json=text)
    async with mongo_under_test() as mongo:
        await mongo.repository.insert(record=record)
        stored = await mongo.repository.get(org=ORG, uuid=record.uuid)

    assert stored.vcon_json.encode() == text.encode()


def _index_keys(info: dict[str, Any]) -> dict[str, tuple[list[tuple[str, int]], bool]]:
    return {
        name: (
            [(field, int(direction)) for field, direction in spec["key"]],
            bool(spec.get("unique")),
        )
        for name, spec in info.items()
    }


async def test_indexes_are_created_at_open_and_again_idempotently() -> None:
    async with mongo_under_test() as mongo:
        await mongo.repository.ping()  # waits for the build open() started
        first = _index_keys(await mongo.collection.index_information())
        second_instance = mongo.another_repository()
        await second_instance.open()
        try:
            await second_instance.ping()
        finally:
            await second_instance.close()
        again = _index_keys(await mongo.collection.index_information())

    wanted = {
        model.document["name"]: (
            list(model.document["key"].items()),
            model.document["name"] == ORG_UUID,
        )
        for model in INDEXES
    }
    assert {name: first[name] for name in wanted} == wanted
    assert again == first


async def test_a_document_over_16_mib_is_refused_by_the_service_naming_the_limit() -> None:
    too_big = make_record(vcon_json="x" * MAX_DOCUMENT_BYTES)
    async with mongo_under_test() as mongo:
        with pytest.raises(LimitExceeded) as raised:
            await mongo.repository.insert(record=too_big)
        assert await mongo.collection.find_one({"uuid": too_big.uuid}) is None

    error = raised.value
    assert (error.limit_name, error.limit, error.reason) == (
        "mongodb_document_bytes",
        16 * 1024 * 1024,
        "VCON_LIMIT_EXCEEDED",
    )
    assert "16777216 bytes (16 MiB)" in str(error)
    assert "MongoDB" in str(error)


async def test_a_document_just_under_16_mib_is_stored() -> None:
    # The rest of the document (keys, ids, hashes) takes well under 10 KB.
    record = make_record(vcon_json="y" * (MAX_DOCUMENT_BYTES - 10_000))
    async with mongo_under_test() as mongo:
        assert await mongo.repository.insert(record=record) is None
        stored = await mongo.repository.get(org=ORG, uuid=record.uuid)

    assert len(stored.vcon_json) == MAX_DOCUMENT_BYTES - 10_000


@needs_standin
async def test_the_size_rule_applies_before_the_driver_is_called() -> None:
    async with mongo_under_test(server_selection_timeout_ms=5_000) as mongo:
        assert mongo.standin is not None
        mongo.standin.stop()
        started = time.monotonic()
        with pytest.raises(LimitExceeded):
            await mongo.repository.insert(record=make_record(vcon_json="z" * MAX_DOCUMENT_BYTES))
        # Not StorageUnavailable after the 5 s server selection: nothing was sent.
        assert time.monotonic() - started < 2


@needs_standin
async def test_a_duplicate_whose_winner_was_erased_meanwhile_is_inserted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = make_record()
    second = make_record(uuid=first.uuid, vcon_json='{"second":true}')
    async with mongo_under_test() as mongo:
        await mongo.repository.insert(record=first)
        original_find_one = StandInCollection.find_one

        async def erase_then_find(self: StandInCollection, *args: Any, **kwargs: Any) -> Any:
            # The winner is deleted between the duplicate-key error and the read.
            await mongo.repository.delete(org=ORG, uuid=first.uuid)
            monkeypatch.setattr(StandInCollection, "find_one", original_find_one)
            return await original_find_one(self, *args, **kwargs)

        monkeypatch.setattr(StandInCollection, "find_one", erase_then_find)
        assert await mongo.repository.insert(record=second) is None
        stored = await mongo.repository.get(org=ORG, uuid=first.uuid)

    assert stored.vcon_json == '{"second":true}'


async def test_two_instances_racing_on_one_uuid_store_it_once() -> None:
    uuid = new_uuid()
    async with mongo_under_test() as mongo:
        other = mongo.another_repository()
        await other.open()
        try:
            results = await asyncio.gather(
                *(
                    (mongo.repository if i % 2 else other).insert(
                        record=make_record(uuid=uuid, vcon_json=f'{{"n":{i}}}')
                    )
                    for i in range(10)
                )
            )
        finally:
            await other.close()
        count = await mongo.collection.count_documents({"uuid": uuid})

    assert count == 1
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, ExistingVcon) for r in results if r is not None)


@needs_standin
async def test_calls_fail_unavailable_within_the_timeout_and_recover_without_restart() -> None:
    record = make_record(tags=("t:1",))
    async with mongo_under_test(server_selection_timeout_ms=200) as mongo:
        repo, standin = mongo.repository, mongo.standin
        assert standin is not None
        await repo.insert(record=record)

        standin.stop()
        calls = {
            "ping": repo.ping,
            "insert": lambda: repo.insert(record=make_record()),
            "get": lambda: repo.get(org=ORG, uuid=record.uuid),
            "list": lambda: repo.list(org=ORG, filter=VconFilter(), after=None, limit=5),
            "delete": lambda: repo.delete(org=ORG, uuid=record.uuid),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await call()
            assert time.monotonic() - started < 1.0, name

        standin.start()
        await repo.ping()
        assert (await repo.get(org=ORG, uuid=record.uuid)).vcon_json == record.vcon_json
        page = await repo.list(org=ORG, filter=VconFilter(tag="t:1"), after=None, limit=5)
        assert [item.uuid for item in page.items] == [record.uuid]


@needs_standin
async def test_open_does_not_wait_and_indexes_are_built_once_mongodb_answers() -> None:
    async with mongo_under_test(open_repository=False, server_selection_timeout_ms=300) as mongo:
        assert mongo.standin is not None
        mongo.standin.stop()
        started = time.monotonic()
        await mongo.repository.open()
        # Well under the 300 ms server selection timeout: open() did not wait for it.
        assert time.monotonic() - started < 0.25

        # Concurrent calls share one attempt at the indexes: all fail after one
        # server selection timeout, not one after another.
        started = time.monotonic()
        results = await asyncio.gather(
            *(mongo.repository.insert(record=make_record()) for _ in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(result, StorageUnavailable) for result in results)
        assert time.monotonic() - started < 1.5

        mongo.standin.start()
        await mongo.repository.ping()
        names = set(await mongo.collection.index_information())
        assert {model.document["name"] for model in INDEXES} <= names
        assert await mongo.repository.insert(record=make_record()) is None


@needs_standin
async def test_the_outage_is_logged_once_and_the_recovery_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vconstore")
    async with mongo_under_test(server_selection_timeout_ms=50) as mongo:
        assert mongo.standin is not None
        await mongo.repository.ping()
        mongo.standin.stop()
        for _ in range(3):
            with pytest.raises(StorageUnavailable):
                await mongo.repository.ping()
        mongo.standin.start()
        await mongo.repository.ping()

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("vconstore")]
    assert messages == [
        "MongoDB storage unavailable (ServerSelectionTimeoutError)",
        "MongoDB storage available again",
    ]
