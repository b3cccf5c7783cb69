"""Inputs found by review to crash handlers once: each must be a clear refusal."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import error_info, inprocess_server, minimal_vcon
from vconstore.ports import ExistingVcon, ScittEntry, VconRecord
from vconstore.storage.memory import InMemoryVconRepository
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed_der() -> bytes:
    return _self_signed_der_for(ec.generate_private_key(ec.SECP256R1()))


def _self_signed_der_for(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


HOSTILE = [
    # A duplicate member, then a syntax error the diagnostic pass meets.
    '{"x":{"a":1,"a":2}, bad}',
    '{"x":1e400, bad}',
    '{"x":{"a":1,"a":2}, "y":' + "[" * 3000 + "]" * 3000 + "}",
    # A tags body nested beyond any parser's recursion.
    json.dumps(
        minimal_vcon(attachments=[{"purpose": "tags", "encoding": "json", "body": "[" * 100000}])
    ),
]


@pytest.mark.parametrize(
    "text", HOSTILE, ids=["dup-then-syntax", "inf-then-syntax", "dup-then-deep", "deep-tags-body"]
)
async def test_hostile_text_is_refused_or_stored_never_internal(tmp_path: Path, text: str) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        try:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=text))
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


async def test_a_jws_with_a_non_ascii_payload_is_refused(tmp_path: Path) -> None:
    protected = _b64u(
        json.dumps(
            {"alg": "ES256", "x5c": [base64.b64encode(_self_signed_der()).decode()]}
        ).encode()
    )
    jws = {"payload": "é", "signatures": [{"protected": protected, "signature": _b64u(b"\0" * 64)}]}
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(jws)))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_overlong_filters_are_invalid(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListVcons(pb.ListVconsRequest(party_name="x" * 5000))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "party_name" in (refused.value.details() or "")


class _HeldRepository(InMemoryVconRepository):
    """Inserts wait until released: a call held in flight, deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def insert(
        self, *, record: VconRecord, scitt: ScittEntry | None = None
    ) -> ExistingVcon | None:
        self.entered.set()
        await self.release.wait()
        return await super().insert(record=record, scitt=scitt)


async def test_calls_beyond_the_limit_are_refused_while_health_answers(tmp_path: Path) -> None:
    held = _HeldRepository()
    async with inprocess_server(
        tmp_path, repository_factory=lambda _: held, max_concurrent_rpcs=1
    ) as (stub, running):
        first = asyncio.ensure_future(
            stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon())))
        )
        await held.entered.wait()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListVcons(pb.ListVconsRequest())
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info(refused.value).reason == "TOO_MANY_CALLS"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(
                health_pb2.HealthCheckRequest(service="vcon.v1.VconService")
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        held.release.set()
        assert (await first).uuid
        assert (await stub.ListVcons(pb.ListVconsRequest())).total_size == 1


async def test_an_x5c_certificate_with_an_unusable_key_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(_self_signed_der_for(key))
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    at = bytes(der).index(point)
    der[at + 10] ^= 0x01  # the certificate still parses; its EC point is off the curve
    protected = _b64u(
        json.dumps({"alg": "ES256", "x5c": [base64.b64encode(bytes(der)).decode()]}).encode()
    )
    payload = _b64u(json.dumps(minimal_vcon()).encode())
    jws = {
        "payload": payload,
        "signatures": [{"protected": protected, "signature": _b64u(b"\1" * 64)}],
    }
    async with inprocess_server(tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(jws)))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "public key is not usable" in (refused.value.details() or "")
