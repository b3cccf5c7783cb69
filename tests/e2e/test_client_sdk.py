"""The Python client SDK against a real server process."""

from __future__ import annotations

import json

import grpc
import pytest

from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import ServerProcess
from vconstore_client import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    VconstoreClient,
    verify_scitt_entry,
)
from vconstore_client.transparency import VerificationError
from vconstore_client.transparency.keys import public_key_from_pem
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as ledger_pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


async def test_sdk_round_trip_and_typed_errors(server: ServerProcess) -> None:
    text = read_corpus_text(CORPUS_DIR / "05-draft03-email-text-thread.json")
    uuid = json.loads(text)["uuid"]
    async with VconstoreClient(server.address, api_key=server.dev_key) as client:
        created = await client.create_vcon(text)
        assert created.uuid == uuid
        assert await client.get_vcon_json(uuid) == text
        with pytest.raises(AlreadyExists) as clash:
            await client.create_vcon({**json.loads(text), "subject": "changed"})
        assert clash.value.reason == "VCON_ALREADY_EXISTS"
        with pytest.raises(InvalidArgument) as refused:
            await client.create_vcon({"uuid": "x", "parties": "none"})
        assert {v.path for v in refused.value.violations} >= {"uuid", "parties"}
        listed = [s.uuid async for s in client.list_vcons(pb.ListVconsRequest(page_size=1))]
        assert listed == [uuid]
        await client.delete_vcon(uuid)
        with pytest.raises(NotFound):
            await client.get_vcon(uuid)


async def test_every_ledger_entry_the_store_lists_verifies_with_the_ledger_key_alone(
    server: ServerProcess,
) -> None:
    """`vconstore up` as a user runs it: each operation's receipt, checked by
    the SDK's verifier against the key the ledger publishes."""
    text = read_corpus_text(CORPUS_DIR / "05-draft03-email-text-thread.json")
    uuid = json.loads(text)["uuid"]
    async with VconstoreClient(server.address, api_key=server.dev_key) as client:
        created = await client.create_vcon(text)
        deleted = await client.delete_vcon(uuid)
        again = await client.create_vcon(text)
        entries = [entry async for entry in client.scitt_entries(uuid, page_size=1)]
    assert [e.entry_id for e in entries] == [
        created.scitt.entry_id,
        deleted.scitt.entry_id,
        again.scitt.entry_id,
    ]
    assert [e.operation for e in entries] == ["register", "delete", "register"]
    async with grpc.aio.insecure_channel(server.ledger_address) as channel:
        keys = await ledger_service_pb2_grpc.LedgerServiceStub(channel).ListVerificationKeys(
            ledger_pb.ListVerificationKeysRequest()
        )
    ledger_key = public_key_from_pem(next(k.pem for k in keys.keys if k.current))
    proven = [verify_scitt_entry(entry, ledger_key, uuid=uuid) for entry in entries]
    assert [p.leaf_index for p in proven] == sorted(p.leaf_index for p in proven)
    # A receipt does not prove another statement.
    forged = pb.ScittEntry()
    forged.CopyFrom(entries[0])
    forged.signed_statement = entries[1].signed_statement
    with pytest.raises(VerificationError):
        verify_scitt_entry(forged, ledger_key)
    # Nor is another vCon's entry evidence about this one.
    with pytest.raises(VerificationError):
        verify_scitt_entry(entries[0], ledger_key, uuid="018f0000-0000-7000-8000-0000000000ff")
