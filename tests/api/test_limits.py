"""Every configured limit answers with a clear status; none crashes or hangs the server."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from tests.support import UUID, bad_request_violations, error_info, inprocess_server, minimal_vcon
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


async def _still_serving(stub: object, running: object) -> None:
    ok = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())))  # type: ignore[attr-defined]
    assert ok.uuid == UUID


async def test_request_larger_than_the_message_limit(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path, max_request_bytes=64 * 1024) as (stub, running):
        big = json.dumps(minimal_vcon(subject="x" * 100_000))
        with pytest.raises(grpc.aio.AioRpcError) as too_big:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=big))
        assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await _still_serving(stub, running)


@pytest.mark.parametrize(
    ("limit", "value", "document"),
    [
        ("max_vcon_bytes", 16 * 1024, minimal_vcon(subject="x" * 20_000)),
        ("max_array_length", 10, minimal_vcon(parties=[{"name": str(i)} for i in range(11)])),
        (
            "max_depth",
            16,
            minimal_vcon(
                attachments=[
                    {"purpose": "x", "encoding": "json", "body": json.loads("[" * 20 + "]" * 20)}
                ]
            ),
        ),
    ],
)
async def test_vcon_limits(
    tmp_path: Path, limit: str, value: int, document: dict[str, object]
) -> None:
    async with inprocess_server(tmp_path, **{limit: value}) as (stub, running):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(document)))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(refused.value)
        assert info.reason == "VCON_LIMIT_EXCEEDED"
        assert info.metadata["limitName"] == limit
        assert limit in (refused.value.details() or "")
        await _still_serving(stub, running)


async def test_absurd_nesting_is_refused_quickly(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, running):
        for text in ("[" * 1_000_000, '{"a":' * 500_000):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text), timeout=20)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await _still_serving(stub, running)


async def test_hundred_violations_fit_in_the_status(tmp_path: Path) -> None:
    """A long list of problems still arrives as INVALID_ARGUMENT at a default
    C-core client, every time (trailers over ~4 KB are refused at random)."""
    document = minimal_vcon(
        dialog=[{"type": "bogus-type-" + "y" * 60, "parties": [99]} for _ in range(80)]
    )
    async with inprocess_server(tmp_path) as (stub, _):
        for _ in range(60):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(document)))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(refused.value)
        assert int(info.metadata["violationCount"]) >= 100
        shown = bad_request_violations(refused.value)
        assert len(shown) == int(info.metadata["violationsInDetails"]) >= 10
        assert (refused.value.details() or "").endswith("more")
