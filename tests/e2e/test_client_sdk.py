"""The Python client SDK against a real server process."""

from __future__ import annotations

import json

import pytest

from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import ServerProcess
from vconstore_client import AlreadyExists, InvalidArgument, NotFound, VconstoreClient
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


async def test_sdk_round_trip_and_typed_errors(server: ServerProcess) -> None:
    text = read_corpus_text(CORPUS_DIR / "05-draft03-email-text-thread.json")
    uuid = json.loads(text)["uuid"]
    async with VconstoreClient(server.address) as client:
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
