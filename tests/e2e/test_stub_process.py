"""The generated async stub against `vconstore up` running as a real process."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support import (
    ServerProcess,
    bad_request_violations,
    error_info,
    keyed_channel,
    start_server_process,
)
from vconstore_proto.vcon.v1 import vcon_pb2, vcon_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[vcon_service_pb2_grpc.VconServiceStub]:
    async with keyed_channel(server.address, server.dev_key) as channel:
        yield vcon_service_pb2_grpc.VconServiceStub(channel)


def _vcon(uuid: str, created_at: str, **members: object) -> str:
    document = {"uuid": uuid, "created_at": created_at, "parties": [{"name": "Alice"}]}
    document.update(members)
    return json.dumps(document)


async def test_create_get_list_delete(stub: vcon_service_pb2_grpc.VconServiceStub) -> None:
    text = _vcon(
        "018f0000-0000-7000-8000-000000000001",
        "2026-02-18T09:00:00Z",
        subject="Billing dispute",
        parties=[{"tel": "+44 7700 900000", "name": "Alice"}, {"mailto": "Bob@Example.com"}],
        attachments=[{"purpose": "tags", "encoding": "json", "body": ["dept:billing"], "party": 0}],
    )
    created = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
    assert created.uuid == "018f0000-0000-7000-8000-000000000001"
    assert created.created_at.ToJsonString() == "2026-02-18T09:00:00Z"
    assert list(created.warnings) == []

    got = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
    assert got.vcon_json == text
    assert got.vcon.subject == "Billing dispute"
    assert got.vcon.parties[0].tel == "+44 7700 900000"
    assert not got.signed

    only_json = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid, view=pb.VCON_VIEW_JSON))
    assert only_json.vcon_json == text and not only_json.HasField("vcon")
    only_typed = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid, view=pb.VCON_VIEW_TYPED))
    assert only_typed.vcon_json == "" and only_typed.vcon.uuid == created.uuid

    for request in (
        pb.ListVconsRequest(party_tel="+447700900000"),
        pb.ListVconsRequest(party_mailto="bob@example.COM"),
        pb.ListVconsRequest(party_name="ALI"),
        pb.ListVconsRequest(subject_contains="dispute"),
        pb.ListVconsRequest(tag="dept:billing"),
        pb.ListVconsRequest(tag="dept"),
    ):
        listed = await stub.ListVcons(request)
        assert [v.uuid for v in listed.vcons] == [created.uuid], request
        assert listed.total_size == 1
    assert (await stub.ListVcons(pb.ListVconsRequest(tag="dept:sales"))).total_size == 0

    await stub.DeleteVcon(pb.DeleteVconRequest(uuid=created.uuid))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(missing.value).reason == "VCON_NOT_FOUND"
    # Physically erased: the uuid can be created again.
    again = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
    assert again.uuid == created.uuid


async def test_typed_create_round_trips(stub: vcon_service_pb2_grpc.VconServiceStub) -> None:
    message = vcon_pb2.Vcon(
        uuid="018f0000-0000-7000-8000-0000000000aa",
        created_at="2026-03-01T10:00:00+01:00",
        parties=[vcon_pb2.Party(name="Zoë", tel="+15551234567")],
    )
    created = await stub.CreateVcon(pb.CreateVconRequest(vcon=message))
    assert created.created_at.ToJsonString() == "2026-03-01T09:00:00Z"
    got = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
    assert got.vcon == message
    assert json.loads(got.vcon_json) == {
        "uuid": "018f0000-0000-7000-8000-0000000000aa",
        "created_at": "2026-03-01T10:00:00+01:00",
        "parties": [{"name": "Zoë", "tel": "+15551234567"}],
    }


async def test_list_pages_newest_first(stub: vcon_service_pb2_grpc.VconServiceStub) -> None:
    uuids = []
    for day in range(1, 8):
        uuid = f"018f0000-0000-7000-8000-00000000010{day}"
        await stub.CreateVcon(
            pb.CreateVconRequest(vcon_json=_vcon(uuid, f"2026-01-0{day}T00:00:00Z"))
        )
        uuids.append(uuid)
    after = Timestamp()
    after.FromJsonString("2026-01-02T00:00:00Z")
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListVcons(
            pb.ListVconsRequest(page_size=2, page_token=token, created_after=after)
        )
        assert page.total_size == 6
        seen += [v.uuid for v in page.vcons]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(uuids[1:]))
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        first = await stub.ListVcons(pb.ListVconsRequest(page_size=2))
        await stub.ListVcons(
            pb.ListVconsRequest(page_size=2, page_token=first.next_page_token, party_name="x")
        )
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_refusal_lists_every_violation(stub: vcon_service_pb2_grpc.VconServiceStub) -> None:
    bad = {
        "uuid": "018f0000-0000-7000-8000-000000000009",
        "created_at": "yesterday",
        "parties": [{"name": "A"}, {"name": "B"}],
        "dialog": [{"type": "video", "parties": [0, 5], "duration": -3}],
    }
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(bad)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {field for field, _ in bad_request_violations(refused.value)}
    assert {"created_at", "dialog[0].type", "dialog[0].parties[1]", "dialog[0].duration"} <= fields
    assert "dialog[0].parties[1]" in (refused.value.details() or "")


async def _interrupt_creates(
    server: ServerProcess, count: int, first: int, interrupt: Callable[[], None]
) -> list[object]:
    """Send `count` creates on one connection; once the first is answered the
    rest are on the wire and being worked through: interrupt the server then.
    Returns each call's response or error."""
    async with keyed_channel(server.address, server.dev_key) as channel:
        stub = vcon_service_pb2_grpc.VconServiceStub(channel)
        calls = [
            asyncio.ensure_future(
                stub.CreateVcon(
                    pb.CreateVconRequest(
                        vcon_json=_vcon(
                            f"018f0000-0000-7000-8000-{first + i:012d}", "2026-01-01T00:00:00Z"
                        )
                    )
                )
            )
            for i in range(count)
        ]
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        interrupt()
        return await asyncio.gather(*calls, return_exceptions=True)


async def _assert_readable_after_restart(data_dir: Path, uuids: list[str]) -> None:
    restarted = start_server_process(data_dir)
    try:
        async with keyed_channel(restarted.address, restarted.dev_key) as channel:
            stub = vcon_service_pb2_grpc.VconServiceStub(channel)
            for uuid in uuids:
                got = await stub.GetVcon(pb.GetVconRequest(uuid=uuid, view=pb.VCON_VIEW_JSON))
                assert json.loads(got.vcon_json)["uuid"] == uuid
    finally:
        assert restarted.terminate() == 0


async def test_sigterm_drains_and_exits_zero(server: ServerProcess) -> None:
    """Calls in flight when SIGTERM arrives complete; what was acknowledged survives."""
    results = await _interrupt_creates(
        server, 200, 1000, lambda: server.process.send_signal(signal.SIGTERM)
    )
    assert server.process.wait(timeout=30) == 0
    acknowledged = [r.uuid for r in results if isinstance(r, pb.CreateVconResponse)]
    assert len(acknowledged) > 1, "nothing in flight was drained"
    # Anything not acknowledged was refused, not left half-done: the client retries it.
    for failure in (r for r in results if not isinstance(r, pb.CreateVconResponse)):
        assert isinstance(failure, grpc.aio.AioRpcError)
        assert failure.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    await _assert_readable_after_restart(server.data_dir, acknowledged)


async def test_acknowledged_creates_survive_kill_9(tmp_path: Path) -> None:
    """Nothing acknowledged is lost when the process dies without any shutdown."""
    server = start_server_process(tmp_path / "data")
    # SIGKILL: no drain, no close, no final commit.
    results = await _interrupt_creates(server, 300, 2000, server.process.kill)
    server.process.wait(timeout=30)
    acknowledged = [r.uuid for r in results if isinstance(r, pb.CreateVconResponse)]
    assert acknowledged, "no create was acknowledged before the kill"
    await _assert_readable_after_restart(server.data_dir, acknowledged)
