"""The stand-in corrects what mongomock gets wrong (see tests/mongo_standin.py):
if these fail, the `mongo` contract tests would pass for the wrong reasons."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from bson.errors import InvalidDocument
from pymongo import IndexModel
from pymongo.errors import (
    DocumentTooLarge,
    DuplicateKeyError,
    InvalidOperation,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from tests.mongo_standin import MAX_BSON_OBJECT_SIZE, StandInClient, StandInServer
from vconstore.storage.mongo import MongoOptions


def _client(server: StandInServer, **changes: object) -> StandInClient:
    options = MongoOptions(uri="mongodb://stand-in.invalid", **changes)  # type: ignore[arg-type]
    client = server.client(options)
    assert isinstance(client, StandInClient)
    return client


async def test_documents_are_stored_as_bson_would_store_them() -> None:
    collection = _client(StandInServer())["db"]["c"]
    when = datetime(2024, 1, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    await collection.insert_one({"_id": 1, "at": when, "blob": b"\x00", "t": (1, 2)})

    stored = await collection.find_one({"_id": 1})

    # Milliseconds, naive UTC; tuples become arrays.
    assert stored == {
        "_id": 1,
        "at": datetime(2024, 1, 1, 12, 0, 0, 123_000),
        "blob": b"\x00",
        "t": [1, 2],
    }
    # What the driver cannot encode fails here too.
    with pytest.raises(InvalidDocument):
        await collection.insert_one({"_id": 2, "blob": bytearray(b"\x00")})


async def test_a_document_over_16_mib_is_refused_like_the_driver_does() -> None:
    collection = _client(StandInServer())["db"]["c"]
    with pytest.raises(DocumentTooLarge):
        await collection.insert_one({"_id": 1, "x": "x" * MAX_BSON_OBJECT_SIZE})
    assert await collection.count_documents({}) == 0


async def test_a_unique_index_raises_the_real_duplicate_key_error() -> None:
    collection = _client(StandInServer())["db"]["c"]
    await collection.create_indexes([IndexModel([("k", 1)], unique=True, name="k")])
    await collection.insert_one({"_id": 1, "k": "a"})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": 2, "k": "a"})


async def test_a_hint_must_name_an_existing_index() -> None:
    collection = _client(StandInServer())["db"]["c"]
    with pytest.raises(OperationFailure):
        await collection.find({}, hint="missing").to_list()
    with pytest.raises(OperationFailure):
        await collection.count_documents({}, hint="missing")


@pytest.mark.parametrize("pattern", ["a.c", "a*", r"\d", r"\x{41}", "(?i)a"])
async def test_patterns_pcre_and_re_might_read_differently_are_refused(pattern: str) -> None:
    collection = _client(StandInServer())["db"]["c"]
    with pytest.raises(NotImplementedError):
        await collection.find({"s": {"$regex": pattern}}).to_list()


async def test_literal_patterns_are_evaluated() -> None:
    collection = _client(StandInServer())["db"]["c"]
    await collection.insert_one({"_id": 1, "s": ["x", "a.c\x00"]})
    found = await collection.find({"s": {"$regex": r"a\.c\x00"}}).to_list()
    assert [document["_id"] for document in found] == [1]


async def test_a_stopped_server_fails_after_the_selection_timeout_and_comes_back() -> None:
    server = StandInServer()
    collection = _client(server, server_selection_timeout_ms=100)["db"]["c"]
    await collection.insert_one({"_id": 1})
    server.stop()
    started = time.monotonic()
    with pytest.raises(ServerSelectionTimeoutError):
        await collection.find_one({"_id": 1})
    assert 0.1 <= time.monotonic() - started < 1
    server.start()
    assert await collection.find_one({"_id": 1}) == {"_id": 1}


async def test_a_closed_client_refuses_work_like_pymongo() -> None:
    client = _client(StandInServer())
    await client.close()
    with pytest.raises(InvalidOperation):
        await client["db"]["c"].find_one({})


async def test_calls_interleave_as_network_calls_would() -> None:
    collection = _client(StandInServer())["db"]["c"]
    order: list[str] = []

    async def insert(name: str) -> None:
        order.append(f"{name} sent")
        await collection.insert_one({"_id": name})
        order.append(f"{name} done")

    await asyncio.gather(insert("a"), insert("b"))

    assert order[:2] == ["a sent", "b sent"]


def test_the_client_records_the_options_it_was_given() -> None:
    client = _client(StandInServer())
    assert (client.kwargs["w"], client.kwargs["journal"]) == ("majority", True)
