"""VconService rules over real gRPC (an in-process grpc.aio server per test)."""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import (
    UUID,
    bad_request_violations,
    error_info,
    inprocess_server,
    keyed_channel,
    minimal_vcon,
)
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1.vcon_service_pb2_grpc import VconServiceStub


async def test_same_content_again_is_an_idempotent_success(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        first = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())))
        # Same document, other key order and whitespace: canonically equal.
        reordered = json.dumps(dict(reversed(list(minimal_vcon().items()))), indent=2)
        again = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=reordered))
        assert again == first
        with pytest.raises(grpc.aio.AioRpcError) as clash:
            await stub.CreateVcon(
                pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon(subject="x")))
            )
        assert clash.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert error_info(clash.value).reason == "VCON_ALREADY_EXISTS"
        # The uuid is a key whatever its case.
        upper = json.dumps(minimal_vcon(uuid=UUID.upper(), subject="y"))
        with pytest.raises(grpc.aio.AioRpcError) as clash_upper:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=upper))
        assert clash_upper.value.code() == grpc.StatusCode.ALREADY_EXISTS
        got = await stub.GetVcon(pb.GetVconRequest(uuid=UUID.upper()))
        assert json.loads(got.vcon_json) == minimal_vcon()


async def test_unknown_and_malformed_uuids(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        for call, request in (
            (stub.GetVcon, pb.GetVconRequest(uuid=UUID)),
            (stub.DeleteVcon, pb.DeleteVconRequest(uuid=UUID)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await call(request)
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        for call, request in (
            (stub.GetVcon, pb.GetVconRequest(uuid="nope")),
            (stub.DeleteVcon, pb.DeleteVconRequest(uuid="")),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as malformed:
                await call(request)
            assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_info(malformed.value).reason == "INVALID_UUID"


async def test_page_size_rules(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as negative:
            await stub.ListVcons(pb.ListVconsRequest(page_size=-1))
        assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await stub.ListVcons(
                pb.ListVconsRequest(page_token="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            )
        assert forged.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(forged.value).reason == "INVALID_PAGE_TOKEN"
        for i in range(3):
            created = minimal_vcon(uuid=f"018f0000-0000-7000-8000-00000000000{i}")
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(created)))
        assert len((await stub.ListVcons(pb.ListVconsRequest(page_size=0))).vcons) == 3
        assert len((await stub.ListVcons(pb.ListVconsRequest(page_size=5000))).vcons) == 3


async def test_assign_uuid_adds_a_uuid7(tmp_path: Path) -> None:
    text = read_corpus_text(CORPUS_DIR / "17-vcon-mcp-siprec-v0.3.0-no-uuid.json")
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
        assert "uuid" in {field for field, _ in bad_request_violations(refused.value)}
        created = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text, assign_uuid=True))
        assert uuidlib.UUID(created.uuid).version == 7
        got = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
        stored = json.loads(got.vcon_json)
        assert stored.pop("uuid") == created.uuid
        assert stored == json.loads(text)


async def test_strict_turns_warnings_into_refusals(tmp_path: Path) -> None:
    lax = json.dumps(minimal_vcon(created_at="2026-02-18T09:00:00"))
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=lax, strict=True))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        accepted = await stub.CreateVcon(pb.CreateVconRequest(vcon_json=lax))
        assert [w.path for w in accepted.warnings] == ["created_at"]
    async with inprocess_server(tmp_path / "strict", strict=True) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused_by_config:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=lax))
        assert refused_by_config.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_missing_source_is_invalid(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as empty:
            await stub.CreateVcon(pb.CreateVconRequest())
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_fidelity_of_awkward_json(tmp_path: Path) -> None:
    text = (
        '{"uuid":"' + UUID + '","parties":[{"name":"\\u0645\\u0631\\u062d\\u0628\\u0627 e\\u0301 '
        '\\ud83d\\ude00 \\u0007"}],"created_at":"2026-02-18T09:00:00.123456789+05:30",'
        '"dialog":[{"type":"text","parties":[0,[0],null],"body":{"n":[1,2.5,-3e-7,9007199254740991]},'
        '"encoding":"json","start":"2026-02-18T09:00:00Z","x-vendor":{}}],'
        '"attachments":[],"extensions":[],"x":{"$ref":"a.b","":[{}]}}'
    )
    async with inprocess_server(tmp_path) as (stub, _):
        await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
        got = await stub.GetVcon(pb.GetVconRequest(uuid=UUID))
        assert got.vcon_json == text
        assert got.vcon.dialog[0].parties.channels.channels[1].indexes.indexes == [0]


async def test_undecodable_request_bytes_are_invalid_argument(tmp_path: Path) -> None:
    async with (
        inprocess_server(tmp_path) as (_, running),
        keyed_channel(f"127.0.0.1:{running.port}") as channel,
    ):
        create = channel.unary_unary("/vcon.v1.VconService/CreateVcon")
        # vcon_json (field 2) holding bytes that are not UTF-8; then garbage.
        for payload in (b"\x12\x04\xff\xfe{}", b"\xff\xff\xff"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await create(payload)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "CreateVconRequest" in (refused.value.details() or "")


async def test_out_of_range_list_timestamps_are_invalid(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        for bad in (Timestamp(seconds=2**62), Timestamp(seconds=0, nanos=-5)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListVcons(pb.ListVconsRequest(created_after=bad))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "created_after" in (refused.value.details() or "")


async def test_list_pages_stay_under_the_default_client_message_limit(tmp_path: Path) -> None:
    """Three legal vCons with 60,000 parties each: every page fits in 4 MiB and
    the pages still visit each vCon once."""
    parties = [{"tel": f"+1555{i:07d}", "name": f"Party number {i}"} for i in range(60_000)]
    async with inprocess_server(tmp_path) as (stub, running):
        uuids = []
        for i in range(3):
            uuid = f"018f0000-0000-7000-8000-00000000010{i}"
            document = minimal_vcon(uuid=uuid, parties=parties)
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(document)))
            uuids.append(uuid)
        async with keyed_channel(f"127.0.0.1:{running.port}", options=()) as default_channel:
            default_stub = VconServiceStub(default_channel)  # 4 MiB receive limit
            seen: list[str] = []
            token = ""
            pages = 0
            while True:
                pages += 1
                page = await default_stub.ListVcons(pb.ListVconsRequest(page_token=token))
                assert page.total_size == 3
                seen += [v.uuid for v in page.vcons]
                assert all(len(v.parties) == 60_000 for v in page.vcons)
                token = page.next_page_token
                if not token:
                    break
        assert sorted(seen) == sorted(uuids)
        assert len(seen) == 3
        assert pages > 1  # the default page size (50) was cut by bytes
