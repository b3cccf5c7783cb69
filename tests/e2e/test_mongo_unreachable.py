"""`vconstore up --mongodb-uri` pointed at a port that refuses connections:
the process still starts (and prints its ready line), health says
NOT_SERVING, and CreateVcon fails UNAVAILABLE quickly; credentials in the URI
never reach the logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import (
    ServerProcess,
    error_info,
    keyed_channel,
    minimal_vcon,
    refused_port,
    start_server_process,
)
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

SECRET = "e2e-s3cret"


@pytest.fixture
def unreachable_server(tmp_path: Path) -> Iterator[ServerProcess]:
    uri = f"mongodb://vcon:{SECRET}@127.0.0.1:{refused_port()}/?serverSelectionTimeoutMS=500"
    started = time.monotonic()
    process = start_server_process(tmp_path / "data", "--mongodb-uri", uri)
    # Startup waits at most about a second for the first storage check.
    assert time.monotonic() - started < 10
    try:
        yield process
    finally:
        assert process.terminate() == 0
        assert process.process.stderr is not None
        logs = process.process.stderr.read()
        assert SECRET not in logs
        assert '"storage": "mongodb mongodb://127.0.0.1:' in logs


async def test_starts_not_serving_and_answers_unavailable(
    unreachable_server: ServerProcess,
) -> None:
    async with keyed_channel(unreachable_server.address, unreachable_server.dev_key) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "vcon.v1.VconService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING, name

        stub = vcon_service_pb2_grpc.VconServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.CreateVcon(
                pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())), timeout=10
            )
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(failed.value).reason == "STORAGE_UNAVAILABLE"
        # One server selection timeout (0.5 s, rounded up to the driver's heartbeat).
        assert time.monotonic() - started < 3
