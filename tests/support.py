"""Helpers shared by the test suites: real servers (in process or as a
subprocess) and rich-status decoding."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vconstore.config import Settings
from vconstore.ledger.config import LedgerSettings
from vconstore.ledger.ports import LedgerRepository
from vconstore.ledger.server import RunningLedger, create_ledger_server, open_ledger_repository
from vconstore.ledger.signing import SigningKey
from vconstore.ports import VconRepository
from vconstore.server import RunningServer, create_server, open_repository
from vconstore.storage.mongo import describe_uri
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

READY_PREFIX = "vconstore ready on "
LEDGER_READY_PREFIX = "ledger ready on "

# A real MongoDB for the `mongo` contract backend; unset: the in-process stand-in.
MONGODB_TEST_URI = os.environ.get("VCON_TEST_MONGODB_URI", "").strip()


def refused_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once.
    (Bound, then released; nothing else in the test claims it meanwhile.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def mongo_backend_description() -> str:
    """The line the test output carries so a reader knows which `mongo` ran."""
    if MONGODB_TEST_URI:
        return f"mongo backend: real server at {describe_uri(MONGODB_TEST_URI)}"
    return "mongo backend: in-process stand-in (set VCON_TEST_MONGODB_URI for a real server)"


UUID = "018f0000-0000-7000-8000-000000000001"


def minimal_vcon(**members: object) -> dict[str, object]:
    """A small valid vCon (uuid UUID), with `members` added or replaced."""
    document: dict[str, object] = {
        "uuid": UUID,
        "created_at": "2026-02-18T09:00:00Z",
        "parties": [{"name": "Alice"}],
    }
    document.update(members)
    return document


@asynccontextmanager
async def inprocess_server(
    data_dir: Path,
    *,
    repository_factory: Callable[[Settings], VconRepository] = open_repository,
    **overrides: object,
) -> AsyncIterator[tuple[vcon_service_pb2_grpc.VconServiceStub, RunningServer]]:
    """A real grpc.aio server on a free loopback port, in this process."""
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir).with_overrides(**overrides)
    running = await create_server(settings, repository_factory=repository_factory)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{running.port}",
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    try:
        yield vcon_service_pb2_grpc.VconServiceStub(channel), running
    finally:
        await channel.close()
        await running.stop(None)


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    address: str
    data_dir: Path
    ledger_address: str = ""

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_server_process(
    data_dir: Path, *extra_args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """`vconstore up --port 0` as a real subprocess; returns once it printed
    its two ready lines, the ledger's first (which is how scripts are told to
    wait for it)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vconstore",
            "up",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *extra_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    ledger_line = process.stdout.readline()
    line = process.stdout.readline() if ledger_line.startswith(LEDGER_READY_PREFIX) else ""
    if not line.startswith(READY_PREFIX):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(
            f"server did not start: stdout={ledger_line!r} {line!r} stderr={err[-2000:]}"
        )
    return ServerProcess(
        process=process,
        address=line[len(READY_PREFIX) :].strip(),
        data_dir=data_dir,
        ledger_address=ledger_line[len(LEDGER_READY_PREFIX) :].strip(),
    )


def start_vconstore(
    args: list[str], ready_prefix: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """`python -m vconstore ARGS` as a real subprocess; returns it and the
    address of its ready line once printed (stderr is discarded)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vconstore", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(ready_prefix):
        process.kill()
        raise AssertionError(f"vconstore {args[0]} did not start: {line!r}")
    return process, line.removeprefix(ready_prefix).strip()


def bad_request_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(field, description) of every BadRequest field violation in a rich status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details in the error"
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend((v.field, v.description) for v in bad.field_violations)
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details in the error"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the error")


ISSUER = "vconstore"


@dataclass
class LedgerUnderTest:
    stub: ledger_service_pb2_grpc.LedgerServiceStub
    running: RunningLedger
    issuer_key: SigningKey
    data_dir: Path


def issuer_trust_file(directory: Path, key: SigningKey) -> Path:
    """The issuer's public key as the PEM file a ledger is told to trust."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"issuer-{key.kid_text}.pem"
    path.write_text(key.public_pem(), encoding="ascii")
    return path


@asynccontextmanager
async def inprocess_ledger(
    data_dir: Path,
    issuer_key: SigningKey,
    *,
    repository_factory: Callable[[Settings], LedgerRepository] = open_ledger_repository,
    ledger_settings: LedgerSettings | None = None,
) -> AsyncIterator[LedgerUnderTest]:
    """A real ledger gRPC server on a free loopback port, in this process,
    trusting `issuer_key` under the name ISSUER."""
    trusted = ((ISSUER, issuer_trust_file(data_dir.parent / "trust", issuer_key)),)
    # Threads unless a test asks for worker processes: a process pool per
    # in-process ledger would make every such test pay for spawning it.
    ledger = replace(ledger_settings or LedgerSettings(verify_workers=0), trusted_issuers=trusted)
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir)
    running = await create_ledger_server(settings, ledger, repository_factory=repository_factory)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield LedgerUnderTest(
            ledger_service_pb2_grpc.LedgerServiceStub(channel), running, issuer_key, data_dir
        )
    finally:
        await channel.close()
        await running.stop(None)
