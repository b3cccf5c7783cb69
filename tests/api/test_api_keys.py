"""API keys over real gRPC (in-process server): every refusal, scopes per
method, the ApiKeyService, and isolation between organisations, on SQLite
and on the MongoDB backend."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.contract.mongo_setup import mongo_under_test
from tests.support import (
    TEST_KEY,
    bearer,
    error_info,
    give_key,
    inprocess_server,
    keyed_channel,
    minimal_vcon,
)
from vconstore.api.auth_interceptor import METHOD_SCOPES, PUBLIC_SERVICES
from vconstore.auth.keys import generate_key
from vconstore.ports import ApiKeyRecord
from vconstore.server import RunningServer
from vconstore.storage.sqlite import SqliteVconRepository
from vconstore_proto.vcon.v1 import api_key_service_pb2 as keys_pb
from vconstore_proto.vcon.v1 import api_key_service_pb2_grpc, vcon_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

UUID = "018f0000-0000-7000-8000-0000000000a1"


Served = tuple[vcon_service_pb2_grpc.VconServiceStub, RunningServer]


@pytest.fixture(params=["sqlite", "mongo"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    if request.param == "sqlite":
        async with inprocess_server(tmp_path) as served:
            yield served
        return
    async with (
        mongo_under_test() as mongo,
        inprocess_server(tmp_path, repository_factory=lambda _: mongo.repository) as s,
    ):
        yield s


def _address(running: RunningServer) -> str:
    return f"127.0.0.1:{running.port}"


async def _call(running: RunningServer, key: str | None, method: str, request: object) -> object:
    async with keyed_channel(_address(running), key) as channel:
        if method in ("CreateApiKey", "ListApiKeys", "RevokeApiKey"):
            stub: object = api_key_service_pb2_grpc.ApiKeyServiceStub(channel)
        else:
            stub = vcon_service_pb2_grpc.VconServiceStub(channel)
        return await getattr(stub, method)(request)


REQUESTS: dict[str, object] = {
    "CreateVcon": pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon(uuid=UUID))),
    "GetVcon": pb.GetVconRequest(uuid=UUID),
    "ListVcons": pb.ListVconsRequest(),
    "ListScittEntries": pb.ListScittEntriesRequest(uuid=UUID),
    "DeleteVcon": pb.DeleteVconRequest(uuid=UUID),
    "CreateApiKey": keys_pb.CreateApiKeyRequest(name="k", scopes=["vcons:read"]),
    "ListApiKeys": keys_pb.ListApiKeysRequest(),
    "RevokeApiKey": keys_pb.RevokeApiKeyRequest(id="key_000000000000000000000000"),
    "RedactVcon": pb.RedactVconRequest(uuid=UUID),
    "ListRedactionPolicies": pb.ListRedactionPoliciesRequest(),
    "ListDerivatives": pb.ListDerivativesRequest(uuid=UUID),
    "GetLineage": pb.GetLineageRequest(uuid=UUID),
}
# Streaming methods, checked by test_streams_need_a_key_and_the_scope_too.
STREAMING = {"RedactVcons", "RedactMatching"}


def test_every_method_we_serve_needs_a_named_scope() -> None:
    """A method added without a scope would be refused to everyone; this
    makes the omission a failing test instead."""
    pool = descriptor_pool.Default()
    served = set()
    for service in ("vcon.v1.VconService", "vcon.v1.ApiKeyService"):
        for method in pool.FindServiceByName(service).methods:
            served.add(f"/{service}/{method.name}")
    assert served == set(METHOD_SCOPES)
    assert {m.rsplit("/", 1)[1] for m in served} == set(REQUESTS) | STREAMING
    assert not {m.split("/")[1] for m in served} & PUBLIC_SERVICES


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "API_KEY_MISSING"),
        ("Bearer", "API_KEY_MALFORMED"),
        ("Bearer not-a-key", "API_KEY_MALFORMED"),
        (f"Basic {TEST_KEY}", "API_KEY_MALFORMED"),
        (TEST_KEY, "API_KEY_MALFORMED"),
        (f"Bearer {TEST_KEY}x!", "API_KEY_MALFORMED"),
        (f"Bearer {generate_key()}", "API_KEY_INVALID"),
        (f"Bearer {TEST_KEY[:-1]}Z", "API_KEY_INVALID"),
    ],
)
async def test_every_method_refuses_an_unusable_key(
    tmp_path: Path, authorization: str | None, reason: str
) -> None:
    async with inprocess_server(tmp_path) as (_, running):
        metadata = () if authorization is None else (("authorization", authorization),)
        async with grpc.aio.insecure_channel(_address(running)) as channel:
            for method, request in REQUESTS.items():
                service = "ApiKeyService" if "ApiKey" in method else "VconService"
                call = channel.unary_unary(
                    f"/vcon.v1.{service}/{method}",
                    request_serializer=lambda m: m.SerializeToString(),
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(request, metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, method
                assert error_info(refused.value).reason == reason
                # The key presented is never echoed back.
                assert TEST_KEY[12:] not in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        (
            "vcons:read",
            {
                "GetVcon",
                "ListVcons",
                "ListScittEntries",
                "ListRedactionPolicies",
                "ListDerivatives",
                "GetLineage",
            },
        ),
        ("vcons:write", {"CreateVcon"}),
        ("vcons:delete", {"DeleteVcon"}),
        ("vcons:redact", {"RedactVcon"}),
        ("keys:admin", {"CreateApiKey", "ListApiKeys", "RevokeApiKey"}),
    ],
)
async def test_a_key_without_the_scope_is_denied_naming_it(
    tmp_path: Path, scope: str, allowed: set[str]
) -> None:
    async with inprocess_server(tmp_path) as (_, running):
        key = await give_key(running.repository, generate_key(), scopes=(scope,))
        for method, request in REQUESTS.items():
            needed = METHOD_SCOPES[next(m for m in METHOD_SCOPES if m.endswith("/" + method))]
            try:
                await _call(running, key, method, request)
            except grpc.aio.AioRpcError as error:
                if method in allowed:
                    # Allowed through: whatever it answers is not about the key.
                    assert error.code() not in (
                        grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.UNAUTHENTICATED,
                    ), method
                    continue
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method
                assert needed in (error.details() or "")
                info = error_info(error)
                assert (info.reason, info.metadata["scope"]) == ("SCOPE_MISSING", needed)
            else:
                assert method in allowed, method


async def test_health_and_reflection_answer_without_a_key(tmp_path: Path) -> None:
    async with (
        inprocess_server(tmp_path) as (_, running),
        grpc.aio.insecure_channel(_address(running)) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "vcon.v1.VconService", "vcon.v1.ApiKeyService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_created_key_is_shown_once_and_works(served: Served) -> None:
    _, running = served
    async with keyed_channel(_address(running)) as channel:
        keys = api_key_service_pb2_grpc.ApiKeyServiceStub(channel)
        created = await keys.CreateApiKey(
            keys_pb.CreateApiKeyRequest(
                name="Production Key", scopes=["vcons:write,vcons:read", "vcons:read"]
            )
        )
        assert re.fullmatch(r"vcs_live_sk_[A-Za-z0-9]{32,64}", created.key)
        assert created.prefix == created.key[:16]
        assert re.fullmatch(r"key_[0-9a-f]{24}", created.id)
        assert list(created.api_key.scopes) == ["vcons:read", "vcons:write"]
        listed = await keys.ListApiKeys(keys_pb.ListApiKeysRequest())
        # Never the key: not in any field, not anywhere in the bytes.
        assert created.key[12:].encode() not in listed.SerializeToString()
        mine = next(k for k in listed.api_keys if k.id == created.id)
        assert (mine.name, mine.prefix, mine.revoked) == ("Production Key", created.prefix, False)
        assert not mine.HasField("last_used_at") and not mine.HasField("revoked_at")
    # The new key acts for the same organisation, within its scopes.
    await _call(running, created.key, "CreateVcon", REQUESTS["CreateVcon"])
    got = await _call(running, TEST_KEY, "GetVcon", REQUESTS["GetVcon"])
    assert json.loads(got.vcon_json)["uuid"] == UUID
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await _call(running, created.key, "DeleteVcon", REQUESTS["DeleteVcon"])
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await _call(running, TEST_KEY, "ListApiKeys", keys_pb.ListApiKeysRequest())
    used = next(k for k in listed.api_keys if k.id == created.id)
    assert used.HasField("last_used_at")


async def test_a_revoked_key_fails_on_its_next_call(served: Served) -> None:
    _, running = served
    created = await _call(
        running,
        TEST_KEY,
        "CreateApiKey",
        keys_pb.CreateApiKeyRequest(name="x", scopes=["vcons:read"]),
    )
    key = created.key
    await _call(running, key, "ListVcons", REQUESTS["ListVcons"])
    revoked = await _call(
        running,
        TEST_KEY,
        "RevokeApiKey",
        keys_pb.RevokeApiKeyRequest(id=created.id),
    )
    assert revoked.api_key.revoked and revoked.api_key.HasField("revoked_at")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(running, key, "ListVcons", REQUESTS["ListVcons"])
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Revoking again is no error and keeps the first time.
    again = await _call(
        running,
        TEST_KEY,
        "RevokeApiKey",
        keys_pb.RevokeApiKeyRequest(id=created.id),
    )
    assert again.api_key.revoked_at == revoked.api_key.revoked_at


async def test_a_key_can_revoke_itself(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (_, running):
        listed = await _call(running, TEST_KEY, "ListApiKeys", keys_pb.ListApiKeysRequest())
        (own,) = listed.api_keys
        await _call(running, TEST_KEY, "RevokeApiKey", keys_pb.RevokeApiKeyRequest(id=own.id))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _call(running, TEST_KEY, "ListApiKeys", keys_pb.ListApiKeysRequest())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (keys_pb.CreateApiKeyRequest(name="", scopes=["vcons:read"]), "name", "INVALID_REQUEST"),
        (keys_pb.CreateApiKeyRequest(name=" ", scopes=["vcons:read"]), "name", "INVALID_REQUEST"),
        (
            keys_pb.CreateApiKeyRequest(name="x" * 101, scopes=["vcons:read"]),
            "name",
            "INVALID_REQUEST",
        ),
        (
            keys_pb.CreateApiKeyRequest(name="a\nb", scopes=["vcons:read"]),
            "name",
            "INVALID_REQUEST",
        ),
        (keys_pb.CreateApiKeyRequest(name="k"), "scopes", "INVALID_REQUEST"),
        (keys_pb.CreateApiKeyRequest(name="k", scopes=["vcons:all"]), "scopes", "UNKNOWN_SCOPE"),
        (keys_pb.ListApiKeysRequest(page_size=-1), "page_size", "INVALID_REQUEST"),
        (keys_pb.ListApiKeysRequest(page_token="garbage"), "page_token", "INVALID_PAGE_TOKEN"),
        (keys_pb.RevokeApiKeyRequest(), "id", "INVALID_REQUEST"),
    ],
)
async def test_bad_key_requests_are_invalid_argument(
    tmp_path: Path, request_: object, field: str, reason: str
) -> None:
    method = type(request_).__name__.removesuffix("Request")
    async with inprocess_server(tmp_path) as (_, running):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _call(running, TEST_KEY, method, request_)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(refused.value)
        assert (info.reason, info.metadata["field"]) == (reason, field)


async def test_key_listing_pages_within_the_organisation(served: Served) -> None:
    _, running = served
    other = await give_key(running.repository, generate_key(), org="globex")
    await _call(
        running, other, "CreateApiKey", keys_pb.CreateApiKeyRequest(name="g", scopes=["vcons:read"])
    )
    made = [
        await _call(
            running,
            TEST_KEY,
            "CreateApiKey",
            keys_pb.CreateApiKeyRequest(name=f"k{i}", scopes=["vcons:read"]),
        )
        for i in range(5)
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await _call(
            running,
            TEST_KEY,
            "ListApiKeys",
            keys_pb.ListApiKeysRequest(page_size=2, page_token=token),
        )
        assert len(page.api_keys) <= 2
        seen += [k.name for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["test"] + [f"k{i}" for i in range(5)]
    assert made[0].id not in {
        k.id
        for k in (await _call(running, other, "ListApiKeys", keys_pb.ListApiKeysRequest())).api_keys
    }
    # Another organisation's page token is refused, not followed.
    first = await _call(running, TEST_KEY, "ListApiKeys", keys_pb.ListApiKeysRequest(page_size=1))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(
            running,
            other,
            "ListApiKeys",
            keys_pb.ListApiKeysRequest(page_token=first.next_page_token),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_organisations_do_not_see_each_others_vcons_or_keys(served: Served) -> None:
    _, running = served
    acme = await give_key(running.repository, generate_key(), org="acme")
    globex = await give_key(running.repository, generate_key(), org="globex")
    document = minimal_vcon(uuid=UUID, subject="acme only")
    await _call(running, acme, "CreateVcon", pb.CreateVconRequest(vcon_json=json.dumps(document)))
    for method in ("GetVcon", "DeleteVcon", "ListScittEntries"):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await _call(running, globex, method, REQUESTS[method])
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND, method
    listed = await _call(running, globex, "ListVcons", pb.ListVconsRequest())
    assert list(listed.vcons) == [] and listed.total_size == 0
    # The same uuid in the other organisation is another vCon altogether.
    theirs = minimal_vcon(uuid=UUID, subject="globex's own")
    await _call(running, globex, "CreateVcon", pb.CreateVconRequest(vcon_json=json.dumps(theirs)))
    await _call(running, globex, "DeleteVcon", REQUESTS["DeleteVcon"])
    got = await _call(running, acme, "GetVcon", REQUESTS["GetVcon"])
    assert json.loads(got.vcon_json)["subject"] == "acme only"
    # Keys too: another organisation's key id is NOT_FOUND, and stays valid.
    listed_keys = await _call(running, acme, "ListApiKeys", keys_pb.ListApiKeysRequest())
    (acme_key,) = listed_keys.api_keys
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await _call(running, globex, "RevokeApiKey", keys_pb.RevokeApiKeyRequest(id=acme_key.id))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(hidden.value).reason == "API_KEY_NOT_FOUND"
    await _call(running, acme, "ListVcons", pb.ListVconsRequest())


class _BrokenKeyStorage(SqliteVconRepository):
    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        raise RuntimeError(f"driver bug quoting {prefix}")


async def test_an_unexpected_failure_while_authenticating_is_internal_and_quiet(
    tmp_path: Path,
) -> None:
    async with inprocess_server(
        tmp_path,
        api_key=None,
        repository_factory=lambda s: _BrokenKeyStorage(s.data_dir / "vconstore.sqlite3"),
    ) as (_, running):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await _call(running, TEST_KEY, "ListVcons", REQUESTS["ListVcons"])
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        assert failed.value.details() == "internal error"


async def test_two_authorization_headers_are_malformed_whatever_they_hold(
    tmp_path: Path,
) -> None:
    async with (
        inprocess_server(tmp_path) as (_, running),
        grpc.aio.insecure_channel(_address(running)) as channel,
    ):
        stub = vcon_service_pb2_grpc.VconServiceStub(channel)
        for pair in ((TEST_KEY, "garbage"), ("garbage", TEST_KEY), (TEST_KEY, TEST_KEY)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListVcons(
                    pb.ListVconsRequest(),
                    metadata=[("authorization", f"Bearer {value}") for value in pair],
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error_info(refused.value).reason == "API_KEY_MALFORMED"


async def test_streams_need_a_key_and_the_scope_too(tmp_path: Path) -> None:
    async with (
        inprocess_server(tmp_path) as (_, running),
        grpc.aio.insecure_channel(_address(running)) as channel,
    ):
        reader = await give_key(running.repository, generate_key(), scopes=("vcons:read",))
        stub = vcon_service_pb2_grpc.VconServiceStub(channel)
        for metadata, code in (
            ((), grpc.StatusCode.UNAUTHENTICATED),
            (bearer(reader), grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in stub.RedactMatching(pb.RedactMatchingRequest(), metadata=metadata):
                    pass
            assert refused.value.code() == code
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in stub.RedactVcons(_no_requests(), metadata=metadata):
                    pass
            assert refused.value.code() == code


async def _no_requests() -> AsyncIterator[pb.RedactVconsRequest]:
    return
    yield
