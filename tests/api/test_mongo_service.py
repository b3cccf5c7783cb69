"""VconService over real gRPC on the MongoDB adapter (stand-in, or the real
server when VCON_TEST_MONGODB_URI is set): the whole flow, how the 16 MiB rule
reaches a client, and health and UNAVAILABLE through an outage and back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.contract.mongo_setup import MongoUnderTest, mongo_under_test
from tests.support import MONGODB_TEST_URI, UUID, error_info, inprocess_server, minimal_vcon
from vconstore.config import Settings
from vconstore.ports import VconRepository
from vconstore.server import RunningServer
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def mongo() -> AsyncIterator[MongoUnderTest]:
    async with mongo_under_test(open_repository=False, server_selection_timeout_ms=200) as mongo:
        yield mongo


def _serve_on(mongo: MongoUnderTest) -> Callable[[Settings], VconRepository]:
    def factory(_: Settings) -> VconRepository:
        return mongo.repository

    return factory


async def _health(running: RunningServer) -> list[int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return [
            (await stub.Check(health_pb2.HealthCheckRequest(service=name))).status
            for name in ("", "vcon.v1.VconService")
        ]


async def _wait_for_health(running: RunningServer, status: int) -> None:
    deadline = time.monotonic() + 5
    while await _health(running) != [status, status]:
        assert time.monotonic() < deadline, f"health never became {status}"
        await asyncio.sleep(0.02)


async def test_create_get_list_delete_on_mongodb(tmp_path: Path, mongo: MongoUnderTest) -> None:
    text = json.dumps(
        minimal_vcon(
            subject="Billing dispute",
            parties=[{"tel": "+44 7700 900000", "name": "Ålice"}, {"mailto": "Bob@Example.com"}],
            attachments=[
                {"purpose": "tags", "encoding": "json", "body": ["dept:billing"], "party": 0}
            ],
        )
    )
    async with inprocess_server(tmp_path, repository_factory=_serve_on(mongo)) as (stub, running):
        assert await _health(running) == [SERVING, SERVING]
        created = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
        assert (await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))) == created
        got = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
        assert got.vcon_json == text
        for request in (
            pb.ListVconsRequest(party_tel="+447700900000"),
            pb.ListVconsRequest(party_mailto="BOB@example.com"),
            pb.ListVconsRequest(party_name="åLI"),
            pb.ListVconsRequest(subject_contains="DISPUTE"),
            pb.ListVconsRequest(tag="dept:billing"),
            pb.ListVconsRequest(tag="dept"),
        ):
            listed = await stub.ListVcons(request)
            assert ([v.uuid for v in listed.vcons], listed.total_size) == ([UUID], 1), request
        await stub.DeleteVcon(pb.DeleteVconRequest(uuid=created.uuid))
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_vcon_over_the_document_limit_is_invalid_argument_naming_it(
    tmp_path: Path,
) -> None:
    # A small limit stands in for 16 MiB (the adapter's parameter), to keep this fast.
    async with mongo_under_test(open_repository=False) as mongo:
        small = mongo.another_repository(max_document_bytes=4096)

        def factory(_: Settings) -> VconRepository:
            return small

        document = json.dumps(minimal_vcon(subject="x" * 3000))
        async with inprocess_server(tmp_path, repository_factory=factory) as (stub, _):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateVcon(pb.CreateVconRequest(vcon_json=document))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(refused.value)
    assert info.reason == "VCON_LIMIT_EXCEEDED"
    assert (info.metadata["limitName"], info.metadata["limit"]) == (
        "mongodb_document_bytes",
        "4096",
    )
    assert "MongoDB's document size limit" in (refused.value.details() or "")


@pytest.mark.skipif(
    bool(MONGODB_TEST_URI), reason="outages can only be staged on the in-process stand-in"
)
async def test_health_and_unavailable_through_an_outage_and_back(
    tmp_path: Path, mongo: MongoUnderTest
) -> None:
    assert mongo.standin is not None
    async with inprocess_server(
        tmp_path, repository_factory=_serve_on(mongo), health_probe_seconds=0.05
    ) as (stub, running):
        await _wait_for_health(running, SERVING)

        mongo.standin.stop()
        await _wait_for_health(running, NOT_SERVING)
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await stub.CreateVcon(
                pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())), timeout=5
            )
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(down.value).reason == "STORAGE_UNAVAILABLE"
        assert time.monotonic() - started < 2

        mongo.standin.start()
        await _wait_for_health(running, SERVING)
        created = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())))
        assert created.uuid == UUID
