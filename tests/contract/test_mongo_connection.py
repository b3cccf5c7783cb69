"""The real pymongo AsyncMongoClient against a loopback port that refuses
connections: what the adapter does while MongoDB is unreachable. No server is
needed, so this runs everywhere. (Recovery needs a server that comes back:
test_mongo_storage.py stages that on the stand-in.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support import refused_port
from vconstore.domain.errors import StorageUnavailable
from vconstore.ports import VconFilter
from vconstore.storage.mongo import MongoOptions, MongoVconRepository

from .records import ORG, make_record, new_uuid

SELECTION_MS = 300
# Server selection rounds up to the driver's 500 ms minimum heartbeat period;
# anything near pymongo's own 30 s default would fail this by far.
BOUND_SECONDS = 2.0
SECRET = "pa55-w0rd"


@pytest.fixture
async def unreachable() -> AsyncIterator[MongoVconRepository]:
    uri = f"mongodb://usr-7q:{SECRET}@127.0.0.1:{refused_port()}/?serverSelectionTimeoutMS={SELECTION_MS}"
    repository = MongoVconRepository(MongoOptions(uri=uri))
    started = time.monotonic()
    await repository.open()
    # open() does not wait for the server.
    assert time.monotonic() - started < 0.5
    try:
        yield repository
    finally:
        await repository.close()


async def _fails_unavailable_in_time(call: Callable[[], Awaitable[object]]) -> StorageUnavailable:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        await call()
    assert time.monotonic() - started < BOUND_SECONDS
    return raised.value


async def test_ping_is_unavailable_within_the_timeout(unreachable: MongoVconRepository) -> None:
    error = await _fails_unavailable_in_time(unreachable.ping)
    # Names the failure, not the host list or the credentials.
    assert str(error) == "MongoDB storage unavailable (ServerSelectionTimeoutError)"


async def test_insert_get_list_delete_are_unavailable_within_the_timeout(
    unreachable: MongoVconRepository,
) -> None:
    await _fails_unavailable_in_time(lambda: unreachable.insert(record=make_record()))
    await _fails_unavailable_in_time(lambda: unreachable.get(org=ORG, uuid=new_uuid()))
    await _fails_unavailable_in_time(
        lambda: unreachable.list(org=ORG, filter=VconFilter(tag="a:b"), after=None, limit=5)
    )
    await _fails_unavailable_in_time(lambda: unreachable.delete(org=ORG, uuid=new_uuid()))


async def test_concurrent_calls_fail_together_not_one_after_another(
    unreachable: MongoVconRepository,
) -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(unreachable.insert(record=make_record()) for _ in range(16)),
        *(unreachable.get(org=ORG, uuid=new_uuid()) for _ in range(16)),
        return_exceptions=True,
    )
    assert all(isinstance(result, StorageUnavailable) for result in results)
    assert time.monotonic() - started < BOUND_SECONDS


async def test_a_caller_cancelled_by_its_deadline_leaves_the_others_waiting(
    unreachable: MongoVconRepository,
) -> None:
    patient = asyncio.create_task(unreachable.ping())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(unreachable.ping(), timeout=0.05)
    # The shared index build was not cancelled with the impatient caller.
    with pytest.raises(StorageUnavailable):
        await patient


async def test_logs_never_carry_the_password(
    unreachable: MongoVconRepository, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StorageUnavailable):
        await unreachable.ping()
    assert caplog.records
    assert not any(SECRET in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"mongodb://usr-7q:{SECRET}@127.0.0.1:port/", id="bad-port"),
        pytest.param(f"mongodb://usr-7q:{SECRET}@/", id="no-host"),
        # An unescaped slash: pymongo quotes the rest as a database name.
        pytest.param("mongodb://usr-7q:pa55/w0rd@127.0.0.1/", id="unescaped-password"),
        pytest.param(f"http://usr-7q:{SECRET}@127.0.0.1/", id="scheme"),
    ],
)
async def test_a_malformed_uri_fails_open_without_echoing_it(uri: str) -> None:
    repository = MongoVconRepository(MongoOptions(uri=uri))
    with pytest.raises(ValueError) as raised:
        await repository.open()
    message = str(raised.value)
    assert "invalid MongoDB configuration" in message
    assert not any(part in message for part in ("pa55", "w0rd", "usr-7q"))
    assert raised.value.__suppress_context__
    with pytest.raises(StorageUnavailable):
        await repository.ping()
