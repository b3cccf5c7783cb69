"""Redaction over real gRPC (in-process store and ledger): the derivative,
its lineage both ways, its ledger entry in both histories, the signed form,
the two bulk streams, tenancy, on SQLite and on MongoDB."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from tests.contract.mongo_setup import mongo_under_test
from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import (
    bearer,
    error_info,
    give_key,
    inprocess_server,
    issuer_key_of,
    keyed_channel,
    minimal_vcon,
    stack,
)
from vconstore.api.redaction_methods import STREAM_WINDOW
from vconstore.auth.keys import generate_key
from vconstore.domain.errors import VconInvalid
from vconstore.domain.validation import (
    ValidationPolicy,
    validate_vcon_document,
    validate_vcon_text,
)
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import parse_statement
from vconstore.redaction.document import redact_document
from vconstore.redaction.policies import BUILT_IN
from vconstore_client import verify_scitt_entry
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

PARENT = "018f0000-0000-7000-8000-0000000000b1"
REGISTERED = pb.ScittEntry.REGISTERED


def call_vcon(uuid: str = PARENT, **members: object) -> dict[str, object]:
    return minimal_vcon(
        uuid=uuid,
        subject="Billing call with Maria Okafor",
        parties=[
            {"name": "Maria Okafor", "tel": "+447700900123", "mailto": "maria@okafor.example"},
            {"name": "Dev Patel", "tel": "+14155550101"},
        ],
        dialog=[
            {
                "type": "text",
                "start": "2026-02-18T09:00:00Z",
                "parties": [0, 1],
                "encoding": "none",
                "body": "Hi Maria, call me back on 07700 900123 or write to "
                "maria@okafor.example; card 4111 1111 1111 1111, order ORD-2024-88172.",
            },
            {
                "type": "recording",
                "start": "2026-02-18T09:01:00Z",
                "parties": [0, 1],
                "mediatype": "audio/x-wav",
                "url": "https://example.com/recording.wav",
                "content_hash": "sha512-" + "A" * 86,
            },
        ],
        analysis=[
            {
                "type": "transcript",
                "dialog": 1,
                "vendor": "example",
                "encoding": "json",
                "body": {"transcript": "Dev Patel here, my SSN is 123-45-6789."},
            }
        ],
        **members,
    )


async def _create(
    store: vcon_service_pb2_grpc.VconServiceStub, document: dict[str, object]
) -> None:
    await store.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(document)))


async def test_a_redaction_is_a_new_linked_signed_ledgered_vcon(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await _create(s.store, call_vcon())
        answer = await s.store.RedactVcon(pb.RedactVconRequest(uuid=PARENT, policy="pii-default"))
        assert answer.redacted and answer.parent_uuid == PARENT and answer.uuid != PARENT
        assert answer.policy == "pii-default"
        child = json.loads(answer.vcon_json)
        assert child["uuid"] == answer.uuid
        assert child["redacted"] == {"uuid": PARENT, "type": "pii-default"}
        text = answer.vcon_json
        for secret in (
            "Okafor",
            "Maria",
            "07700 900123",
            "4111",
            "maria@okafor",
            "123-45-6789",
            "Patel",
            "recording.wav",
        ):
            assert secret not in text, secret
        assert "ORD-2024-88172" in text  # an order number is not PII
        # Structure kept: the same parties and dialogs, at the same indexes.
        assert [p["name"] for p in child["parties"]] == ["party-0", "party-1"]
        assert len(child["dialog"]) == 2 and child["analysis"][0]["dialog"] == 1
        assert "body" not in child["dialog"][1] and "url" not in child["dialog"][1]
        # It passes our own validation, and it is stored as answered.
        validate_vcon_text(text, ValidationPolicy(strict=False))
        got = await s.store.GetVcon(pb.GetVconRequest(uuid=answer.uuid, view=pb.VCON_VIEW_JSON))
        assert got.vcon_json == text
        # The ledger: operation redact naming the parent, in both histories.
        scitt = answer.scitt
        assert scitt.operation == "redact" and scitt.status == REGISTERED
        statement = parse_statement(scitt.signed_statement)
        assert statement.record.parent_uuid == PARENT
        assert statement.record.vcon_uuid == answer.uuid
        key = await s.ledger_key()
        verify_scitt_entry(scitt, key, uuid=answer.uuid)  # type: ignore[arg-type]
        for uuid in (PARENT, answer.uuid):
            listed = await s.store.ListScittEntries(pb.ListScittEntriesRequest(uuid=uuid))
            (entry,) = [e for e in listed.entries if e.entry_id == scitt.entry_id]
            assert entry.status == REGISTERED and entry.receipt == scitt.receipt
        # Lineage both ways.
        derived = await s.store.ListDerivatives(pb.ListDerivativesRequest(uuid=PARENT))
        assert [v.uuid for v in derived.vcons] == [answer.uuid]
        lineage = await s.store.GetLineage(pb.GetLineageRequest(uuid=answer.uuid))
        assert [(a.uuid, a.type, a.stored) for a in lineage.ancestors] == [
            (PARENT, "pii-default", True)
        ]


def verify_general_jws(text: str, public_pem: str) -> bytes:
    """joserfc (an independent implementation) checks the JWS with the public
    key alone and returns its payload; raises if it does not verify."""
    key = ECKey.import_key(public_pem)
    # Our header carries a certificate (x5c) and the vCon's uuid: more than
    # joserfc's default 512 bytes, and a member it does not register.
    registry = JWSRegistry(algorithms=["ES256"], strict_check_header=False)
    registry.max_header_length = 8192
    verified = jws.deserialize_json(json.loads(text), key, registry=registry)
    return bytes(verified.payload)


async def test_the_signed_form_verifies_with_the_public_key_alone(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        await _create(store, call_vcon())
        plain = await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT))
        assert plain.signed_vcon_json == ""  # only when asked for
        answer = await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT, include_signed_form=True))
        public = issuer_key_of(tmp_path).public_pem()
        assert verify_general_jws(answer.signed_vcon_json, public).decode() == answer.vcon_json
        got = await store.GetVcon(pb.GetVconRequest(uuid=answer.uuid, include_signed_form=True))
        assert verify_general_jws(got.signed_vcon_json, public).decode() == answer.vcon_json
        # Another key does not verify it.
        with pytest.raises(BadSignatureError):
            verify_general_jws(got.signed_vcon_json, SigningKey.generate().public_pem())
        # And it is a signed vCon our own validation accepts.
        assert validate_vcon_text(got.signed_vcon_json, ValidationPolicy()).signed


async def test_redactions_of_redactions_walk_to_the_root(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        await _create(store, call_vcon())
        first = await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT))
        second = await store.RedactVcon(pb.RedactVconRequest(uuid=first.uuid, policy="pii-strict"))
        lineage = await store.GetLineage(pb.GetLineageRequest(uuid=second.uuid))
        assert [(a.uuid, a.type) for a in lineage.ancestors] == [
            (first.uuid, "pii-strict"),
            (PARENT, "pii-default"),
        ]
        await store.DeleteVcon(pb.DeleteVconRequest(uuid=PARENT))
        lineage = await store.GetLineage(pb.GetLineageRequest(uuid=second.uuid))
        assert [(a.uuid, a.stored) for a in lineage.ancestors] == [
            (first.uuid, True),
            (PARENT, False),
        ]
        root = await store.GetLineage(pb.GetLineageRequest(uuid=first.uuid))
        assert [a.uuid for a in root.ancestors] == [PARENT]
        # An uploaded vCon naming its parent with the newer `redacted_from`.
        uploaded = minimal_vcon(
            uuid="018f0000-0000-7000-8000-0000000000b9",
            redacted_from={"uuid": first.uuid.upper(), "type": "manual"},
        )
        await _create(store, uploaded)
        derived = await store.ListDerivatives(pb.ListDerivativesRequest(uuid=first.uuid))
        assert sorted(v.uuid for v in derived.vcons) == sorted(
            [second.uuid, "018f0000-0000-7000-8000-0000000000b9"]
        )


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            pb.RedactVconRequest(uuid=PARENT, policy="nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "UNKNOWN_POLICY",
        ),
        (pb.RedactVconRequest(uuid="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UUID"),
        (
            pb.RedactVconRequest(uuid="018f0000-0000-7000-8000-0000000000ff"),
            grpc.StatusCode.NOT_FOUND,
            "VCON_NOT_FOUND",
        ),
    ],
)
async def test_bad_redaction_requests(
    tmp_path: Path, request_: pb.RedactVconRequest, code: grpc.StatusCode, reason: str
) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        await _create(store, call_vcon())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await store.RedactVcon(request_)
        assert refused.value.code() == code
        assert error_info(refused.value).reason == reason


async def test_policies_are_listed_with_what_they_remove(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        listed = await store.ListRedactionPolicies(pb.ListRedactionPoliciesRequest())
        by_name = {p.name: p for p in listed.policies}
        assert {"pii-default", "pii-strict"} <= set(by_name)
        assert {"phone", "email", "card", "iban", "ssn", "party"} <= set(
            by_name["pii-default"].text_kinds
        )
        assert "spoken_number" in by_name["pii-strict"].text_kinds
        assert not by_name["pii-default"].keeps_media


@asynccontextmanager
async def _served(backend: str, tmp_path: Path) -> AsyncIterator[tuple[object, object]]:
    if backend == "sqlite":
        async with inprocess_server(tmp_path) as served:
            yield served
        return
    async with (
        mongo_under_test() as mongo,
        inprocess_server(tmp_path, repository_factory=lambda _: mongo.repository) as served,
    ):
        yield served


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_bulk_streams_answer_every_item_in_completion_order(
    tmp_path: Path, backend: str
) -> None:
    async with _served(backend, tmp_path) as (store, _):
        uuids = [f"018f0000-0000-7000-8000-0000000001{i:02d}" for i in range(30)]
        for i, uuid in enumerate(uuids):
            tag = "dept:billing" if i % 2 else "dept:sales"
            await _create(
                store,  # type: ignore[arg-type]
                call_vcon(
                    uuid,
                    attachments=[{"purpose": "tags", "encoding": "json", "body": [tag]}],
                ),
            )
        stream = store.RedactMatching(  # type: ignore[attr-defined]
            pb.RedactMatchingRequest(filter=pb.ListVconsRequest(tag="dept:billing")),
            metadata=bearer(),
        )
        items = [item async for item in stream]
        progress = [i.progress for i in items if i.HasField("progress")]
        done = [i.result for i in items if i.HasField("result")]
        assert progress[0].done == 0 and progress[0].total == 15
        assert progress[-1].done == progress[-1].total == 15
        assert sorted(r.parent_uuid for r in done) == sorted(uuids[1::2])
        assert all(r.HasField("result") for r in done)
        missing = "018f0000-0000-7000-8000-0000000009ff"

        async def requests() -> AsyncIterator[pb.RedactVconsRequest]:
            for uuid in [*uuids[:10], missing, "garbage"]:
                yield pb.RedactVconsRequest(uuid=uuid)

        results = [r async for r in store.RedactVcons(requests(), metadata=bearer())]  # type: ignore[attr-defined]
        assert sorted(r.parent_uuid for r in results) == sorted([*uuids[:10], missing, "garbage"])
        by_parent = {r.parent_uuid: r for r in results}
        assert by_parent[missing].error.code == code_pb2.NOT_FOUND
        assert by_parent["garbage"].error.code == code_pb2.INVALID_ARGUMENT
        assert all(by_parent[u].result.redacted for u in uuids[:10])


async def test_a_client_may_wait_for_each_result_before_sending_the_next(
    tmp_path: Path,
) -> None:
    async with inprocess_server(tmp_path) as (store, _):
        uuids = [f"018f0000-0000-7000-8000-0000000002{i:02d}" for i in range(3)]
        for uuid in uuids:
            await _create(store, call_vcon(uuid))
        call = store.RedactVcons(metadata=bearer())
        for uuid in uuids:
            await call.write(pb.RedactVconsRequest(uuid=uuid))
            answer = await asyncio.wait_for(call.read(), 30)
            assert answer.parent_uuid == uuid and answer.result.redacted
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF


async def test_a_reader_that_stops_reading_stops_the_work(tmp_path: Path) -> None:
    """Back-pressure and cancellation: a client that takes 3 results and
    cancels leaves at most a window's worth (and what the transport buffered)
    redacted, not all 300."""
    async with inprocess_server(tmp_path) as (store, _):
        uuids = [f"018f0000-0000-7000-8000-000000003{i:03d}" for i in range(300)]
        for uuid in uuids:
            await _create(store, call_vcon(uuid))
        stream = store.RedactMatching(
            pb.RedactMatchingRequest(filter=pb.ListVconsRequest()), metadata=bearer()
        )
        seen = 0
        async for item in stream:
            seen += item.HasField("result")
            if seen == 3:
                stream.cancel()
                break
        total = (await store.ListVcons(pb.ListVconsRequest(page_size=1))).total_size
        assert 300 + 3 <= total < 300 + STREAM_WINDOW + 40


async def test_another_organisation_cannot_redact_or_see_lineage(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, running):
        await _create(store, call_vcon())
        answer = await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT))
        other = await give_key(running.repository, generate_key(), org="globex")
        async with keyed_channel(f"127.0.0.1:{running.port}", other) as channel:
            theirs = vcon_service_pb2_grpc.VconServiceStub(channel)
            for call in (
                theirs.RedactVcon(pb.RedactVconRequest(uuid=PARENT)),
                theirs.GetLineage(pb.GetLineageRequest(uuid=answer.uuid)),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as hidden:
                    await call
                assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
            derived = await theirs.ListDerivatives(pb.ListDerivativesRequest(uuid=PARENT))
            assert list(derived.vcons) == []
        # (A channel without interceptors: see support.BearerAuth.)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as plain:
            results = [
                r
                async for r in vcon_service_pb2_grpc.VconServiceStub(plain).RedactVcons(
                    _one_request(pb.RedactVconsRequest(uuid=PARENT)), metadata=bearer(other)
                )
            ]
            assert results[0].error.code == code_pb2.NOT_FOUND


async def _one_request(request: pb.RedactVconsRequest) -> AsyncIterator[pb.RedactVconsRequest]:
    yield request


async def test_a_key_without_the_redact_scope_is_denied(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (store, running):
        await _create(store, call_vcon())
        reader = await give_key(running.repository, generate_key(), scopes=("vcons:read",))
        async with keyed_channel(f"127.0.0.1:{running.port}", reader) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await vcon_service_pb2_grpc.VconServiceStub(channel).RedactVcon(
                    pb.RedactVconRequest(uuid=PARENT)
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_info(denied.value).metadata["scope"] == "vcons:redact"


async def test_redactions_in_a_worker_process_give_the_same_result(tmp_path: Path) -> None:
    answers = []
    for workers in (0, 1):
        async with inprocess_server(tmp_path / str(workers), redaction_workers=workers) as (
            store,
            _,
        ):
            await _create(store, call_vcon())
            answer = await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT))
            child = json.loads(answer.vcon_json)
            child.pop("uuid")
            answers.append(child)
    assert answers[0] == answers[1]


async def test_a_vcon_too_large_to_redact_is_refused(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path, redaction_max_bytes=200) as (store, _):
        await _create(store, call_vcon())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await store.RedactVcon(pb.RedactVconRequest(uuid=PARENT))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(refused.value).reason == "VCON_TOO_LARGE_TO_REDACT"


@pytest.mark.parametrize("policy", ["pii-default", "pii-strict"])
def test_every_accepted_corpus_vcon_redacts_into_a_valid_vcon(policy: str) -> None:
    """Real vCons of every draft era: the redaction keeps every index valid
    and passes the same validation as any create."""
    strict = ValidationPolicy()
    checked = 0
    for path in sorted(CORPUS_DIR.glob("*.json")):
        try:
            validated = validate_vcon_text(read_corpus_text(path), strict, assign_uuid=True)
        except VconInvalid:
            continue
        redacted = redact_document(
            validated.document,
            BUILT_IN[policy],
            new_uuid="018f0000-0000-7000-8000-0000000000fe",
            parent_uuid=validated.uuid.lower(),
        )
        result = validate_vcon_document(redacted, strict)
        assert result.uuid == "018f0000-0000-7000-8000-0000000000fe", path.name
        for member in ("parties", "dialog", "analysis", "attachments"):
            assert len(redacted.get(member) or []) == len(validated.document.get(member) or [])
        checked += 1
    assert checked >= 15


async def test_a_bidirectional_stream_counts_as_a_call_in_flight(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path, max_concurrent_rpcs=1) as (store, _):
        await _create(store, call_vcon())
        first = store.RedactVcons(metadata=bearer())
        await first.write(pb.RedactVconsRequest(uuid=PARENT))
        assert (await first.read()).result.redacted
        # The first stream is still open: a second call is over the limit.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in store.RedactMatching(pb.RedactMatchingRequest(), metadata=bearer()):
                pass
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await first.done_writing()
        assert await first.read() == grpc.aio.EOF
