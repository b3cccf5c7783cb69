"""The store registers every operation with the ledger (issue 5), in process:
a real store gRPC server and a real ledger gRPC server on loopback ports."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.contract.mongo_setup import mongo_under_test
from tests.support import (
    UUID,
    Stack,
    error_info,
    inprocess_ledger,
    inprocess_server,
    issuer_key_of,
    minimal_vcon,
    refused_port,
    stack,
)
from vconstore.domain.canonical import content_hash
from vconstore_client import verify_scitt_entry
from vconstore_client.transparency import verify_receipt
from vconstore_client.transparency.cose import decode_sign1, verify_es256
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as ledger_pb
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

REGISTERED = pb.ScittEntry.REGISTERED
PENDING = pb.ScittEntry.PENDING
LEDGER_SERVICE = "vcon.ledger.v1.LedgerService"
OTHER_UUID = "0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"


def _create(document: dict[str, object]) -> pb.CreateVconRequest:
    return pb.CreateVconRequest(vcon_json=json.dumps(document))


def _payload(entry: pb.ScittEntry) -> dict[str, str]:
    payload = json.loads(decode_sign1(entry.signed_statement).payload)
    assert isinstance(payload, dict)
    return payload


async def test_a_create_answers_with_its_registered_entry_and_a_receipt_that_verifies(
    tmp_path: Path,
) -> None:
    async with stack(tmp_path) as s:
        document = minimal_vcon()
        created = await s.store.CreateVcon(_create(document))
        scitt = created.scitt
        assert scitt.status == REGISTERED and scitt.operation == "register" and scitt.signed
        leaf = hashlib.sha256(b"\x00" + scitt.signed_statement).digest()
        assert scitt.entry_id == "sha256:" + leaf.hex()
        verified = verify_receipt(
            scitt.receipt, await s.ledger_key(), statement=scitt.signed_statement
        )  # type: ignore[arg-type]
        assert verified.tree_size >= 1
        # The statement is the store's, signed with its issuer key, and holds
        # hashes, the uuid and a pseudonym: no content, no organisation name.
        sign1 = decode_sign1(scitt.signed_statement)
        verify_es256(issuer_key_of(tmp_path / "store").public_key, sign1)
        payload = _payload(scitt)
        assert set(payload) == {"operation", "vcon_uuid", "org", "content_hash", "issued_at"}
        assert payload["vcon_uuid"] == UUID and payload["operation"] == "register"
        assert payload["content_hash"] == content_hash(document)
        assert payload["org"] != "dev" and len(payload["org"]) == 64
        # The ledger holds exactly this entry for the vCon.
        entries = await s.ledger.stub.ListVconEntries(
            ledger_pb.ListVconEntriesRequest(vcon_uuid=UUID)
        )
        assert [r.entry.entry_id for r in entries.registrations] == [scitt.entry_id]
        # GetVcon reports the same state.
        got = await s.store.GetVcon(pb.GetVconRequest(uuid=UUID))
        assert got.scitt == scitt


async def test_a_retried_create_answers_with_the_first_entry(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        first = await s.store.CreateVcon(_create(minimal_vcon()))
        again = await s.store.CreateVcon(_create(minimal_vcon()))
        assert again.scitt == first.scitt
        listed = await s.store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
        assert [e.entry_id for e in listed.entries] == [first.scitt.entry_id]


@pytest.mark.parametrize("member", ["amended", "appended", "amended_from"])
async def test_a_vcon_amending_a_held_one_is_an_amend(tmp_path: Path, member: str) -> None:
    async with stack(tmp_path) as s:
        await s.store.CreateVcon(_create(minimal_vcon()))
        amending = minimal_vcon(uuid=OTHER_UUID, **{member: {"uuid": UUID.upper()}})
        created = await s.store.CreateVcon(_create(amending))
        assert created.scitt.operation == "amend"
        assert _payload(created.scitt)["operation"] == "amend"


async def test_a_vcon_amending_one_not_held_is_a_register(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        amending = minimal_vcon(uuid=OTHER_UUID, amended={"uuid": UUID})
        created = await s.store.CreateVcon(_create(amending))
        assert created.scitt.operation == "register"


async def test_a_deletion_is_registered_and_the_history_outlives_the_vcon(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        document = minimal_vcon()
        created = await s.store.CreateVcon(_create(document))
        deleted = await s.store.DeleteVcon(pb.DeleteVconRequest(uuid=UUID))
        assert deleted.scitt.operation == "delete" and deleted.scitt.status == REGISTERED
        assert _payload(deleted.scitt)["content_hash"] == content_hash(document)
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await s.store.GetVcon(pb.GetVconRequest(uuid=UUID))
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await s.store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
        assert [(e.operation, e.entry_id) for e in listed.entries] == [
            ("register", created.scitt.entry_id),
            ("delete", deleted.scitt.entry_id),
        ]
        key = await s.ledger_key()
        for entry in listed.entries:
            assert entry.status == REGISTERED
            verify_receipt(entry.receipt, key, statement=entry.signed_statement)  # type: ignore[arg-type]
        # Created again: the history goes on, newest last.
        again = await s.store.CreateVcon(_create(document))
        listed = await s.store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
        assert listed.entries[-1].entry_id == again.scitt.entry_id and len(listed.entries) == 3


async def test_scitt_entries_page_with_tokens(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        expected = []
        for _ in range(3):
            expected.append((await s.store.CreateVcon(_create(minimal_vcon()))).scitt.entry_id)
            expected.append(
                (await s.store.DeleteVcon(pb.DeleteVconRequest(uuid=UUID))).scitt.entry_id
            )
        seen: list[str] = []
        tokens: list[str] = []
        token = ""
        while True:
            page = await s.store.ListScittEntries(
                pb.ListScittEntriesRequest(uuid=UUID, page_size=4, page_token=token)
            )
            seen += [entry.entry_id for entry in page.entries]
            token = page.next_page_token
            if not token:
                break
            tokens.append(token)
        assert seen == expected and len(tokens) == 1
        # A token belongs to its vCon's list.
        with pytest.raises(grpc.aio.AioRpcError) as foreign:
            await s.store.ListScittEntries(
                pb.ListScittEntriesRequest(uuid=OTHER_UUID, page_token=tokens[0])
            )
        assert foreign.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.ListScittEntriesRequest(uuid=OTHER_UUID), grpc.StatusCode.NOT_FOUND),
        (pb.ListScittEntriesRequest(uuid="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.ListScittEntriesRequest(uuid=UUID, page_size=-1), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.ListScittEntriesRequest(uuid=UUID, page_token="garbage"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
async def test_list_scitt_entries_refuses_precisely(
    tmp_path: Path, request_: pb.ListScittEntriesRequest, code: grpc.StatusCode
) -> None:
    async with stack(tmp_path) as s:
        await s.store.CreateVcon(_create(minimal_vcon()))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await s.store.ListScittEntries(request_)
        assert refused.value.code() == code
        assert error_info(refused.value).domain == "vconstore.v1"


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service)
        )
        return int(answer.status)


async def test_with_the_ledger_unreachable_operations_succeed_pending(tmp_path: Path) -> None:
    async with inprocess_server(
        tmp_path, ledger_address=f"127.0.0.1:{refused_port()}", metrics_port=0
    ) as (store, running):
        created = await store.CreateVcon(_create(minimal_vcon()))
        assert created.scitt.status == PENDING and not created.scitt.receipt
        assert created.scitt.entry_id.startswith("sha256:")
        deleted = await store.DeleteVcon(pb.DeleteVconRequest(uuid=UUID))
        assert deleted.scitt.status == PENDING and deleted.scitt.operation == "delete"
        listed = await store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
        assert [e.status for e in listed.entries] == [PENDING, PENDING]
        # The store serves; the ledger's reachability is reported on its own.
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert await _health(running.port, "") == serving
        assert await _health(running.port, "vcon.v1.VconService") == serving
        assert await _health(running.port, LEDGER_SERVICE) == not_serving
        assert running.metrics_endpoint is not None
        url = f"http://127.0.0.1:{running.metrics_endpoint.port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read().decode())
        assert "vconstore_ledger_reachable 0.0" in text


async def test_a_ledger_that_does_not_answer_delays_a_create_only_by_the_wait(
    tmp_path: Path,
) -> None:
    # A port that accepts connections and never answers a call.
    silent = grpc.aio.server()
    port = silent.add_insecure_port("127.0.0.1:0")

    async def never(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        await asyncio.Event().wait()
        return b""

    silent.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "vcon.ledger.v1.LedgerService",
                {"RegisterStatements": grpc.unary_unary_rpc_method_handler(never)},
            ),
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {
                    "Check": grpc.unary_unary_rpc_method_handler(
                        _serving,
                        request_deserializer=health_pb2.HealthCheckRequest.FromString,
                        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
                    )
                },
            ),
        ]
    )
    await silent.start()
    try:
        # The ledger's own timeout is far beyond the client's deadline: only
        # the bounded wait can make the create answer in time.
        async with inprocess_server(
            tmp_path,
            ledger_address=f"127.0.0.1:{port}",
            scitt_wait_seconds=0.3,
            ledger_timeout_seconds=120.0,
        ) as (store, _):
            created = await store.CreateVcon(_create(minimal_vcon()), timeout=10)
            assert created.scitt.status == PENDING
    finally:
        await silent.stop(None)


async def _serving(
    request: health_pb2.HealthCheckRequest,
    context: grpc.aio.ServicerContext[
        health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    ],
) -> health_pb2.HealthCheckResponse:
    return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


async def test_without_a_ledger_nothing_is_signed(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        created = await store.CreateVcon(_create(minimal_vcon()))
        assert not created.HasField("scitt")
        got = await store.GetVcon(pb.GetVconRequest(uuid=UUID))
        assert not got.HasField("scitt")
        deleted = await store.DeleteVcon(pb.DeleteVconRequest(uuid=UUID))
        assert not deleted.HasField("scitt")
        with pytest.raises(grpc.aio.AioRpcError) as none:
            await store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
        assert none.value.code() == grpc.StatusCode.NOT_FOUND


async def test_on_mongodb_pending_operations_are_registered_by_the_next_start(
    tmp_path: Path,
) -> None:
    """The whole path on the MongoDB adapter (stand-in, or a real server when
    VCON_TEST_MONGODB_URI is set): registered answers, a deletion's tombstone
    keeping the history, and a backlog left by an unreachable ledger finished
    by the next instance."""
    store_dir = tmp_path / "store"
    async with mongo_under_test(open_repository=False) as mongo:
        # First instance: no ledger reachable.
        async with inprocess_server(
            store_dir,
            repository_factory=lambda _: mongo.another_repository(),
            ledger_address=f"127.0.0.1:{refused_port()}",
        ) as (store, _):
            created = await store.CreateVcon(_create(minimal_vcon()))
            deleted = await store.DeleteVcon(pb.DeleteVconRequest(uuid=UUID))
            assert (created.scitt.status, deleted.scitt.status) == (PENDING, PENDING)
        # Second instance: the ledger is there; its recovery registers both
        # (once they are older than the wait plus the ledger timeout: 1 s here).
        async with (
            inprocess_ledger(tmp_path / "ledger", issuer_key_of(store_dir)) as ledger,
            inprocess_server(
                store_dir,
                repository_factory=lambda _: mongo.another_repository(),
                ledger_address=f"127.0.0.1:{ledger.running.port}",
                scitt_wait_seconds=0.0,
                ledger_timeout_seconds=1.0,
            ) as (store, _),
        ):
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                listed = await store.ListScittEntries(pb.ListScittEntriesRequest(uuid=UUID))
                if all(e.status == REGISTERED for e in listed.entries):
                    break
                assert asyncio.get_running_loop().time() < deadline, "backlog not registered"
                await asyncio.sleep(0.05)
            assert [(e.operation, e.entry_id) for e in listed.entries] == [
                ("register", created.scitt.entry_id),
                ("delete", deleted.scitt.entry_id),
            ]
            key = await Stack(store, ledger.running, ledger).ledger_key()  # type: ignore[arg-type]
            for entry in listed.entries:
                verify_scitt_entry(entry, key, uuid=UUID)  # type: ignore[arg-type]
            # Created again over its tombstone: live, with its own new entry.
            again = await store.CreateVcon(_create(minimal_vcon()))
            got = await store.GetVcon(pb.GetVconRequest(uuid=UUID))
            assert got.scitt.entry_id == again.scitt.entry_id
