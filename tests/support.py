"""Helpers shared by the test suites: real servers (in process or as a
subprocess) and rich-status decoding."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vconstore.application.api_keys import seed_key
from vconstore.auth.orgs import DEV_ORG
from vconstore.auth.scopes import ALL_SCOPES
from vconstore.config import Settings
from vconstore.keyfiles import ISSUER_KEY_FILE
from vconstore.ledger.config import LedgerSettings
from vconstore.ledger.ports import LedgerRepository
from vconstore.ledger.server import RunningLedger, create_ledger_server, open_ledger_repository
from vconstore.ledger.signing import SigningKey
from vconstore.ports import ApiKeyRepository, Storage
from vconstore.server import RunningServer, create_server, open_repository
from vconstore.storage.mongo import describe_uri
from vconstore_client.transparency.keys import public_key_from_pem
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as ledger_pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

READY_PREFIX = "vconstore ready on "
LEDGER_READY_PREFIX = "ledger ready on "
DEV_KEY_PREFIX = "development key: "
# The all-scopes key of org `dev` that in-process servers are given.
TEST_KEY = "vcs_live_sk_" + "T" * 8 + "0123456789abcdefghijklmnopqrstuv"
# The store-ledger credential of in-process ledgers and the tests' `serve`s.
LEDGER_CREDENTIAL = "test-ledger-credential-0123456789"


class BearerAuth(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds `authorization: Bearer <key>` to every unary call of a channel.
    (Streaming calls pass `metadata=bearer(key)` themselves: grpc.aio's
    stream-stream interceptors fail sending from an async request iterator.)"""

    def __init__(self, key: str) -> None:
        self._pair = ("authorization", f"Bearer {key}")

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        metadata = (*tuple(details.metadata or ()), self._pair)
        return await continuation(details._replace(metadata=metadata), request)


UNLIMITED_MESSAGES = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
)


def bearer(key: str = TEST_KEY) -> tuple[tuple[str, str], ...]:
    """The metadata presenting `key`, for a streaming call."""
    return (("authorization", f"Bearer {key}"),)


def keyed_channel(
    address: str,
    key: str | None = TEST_KEY,
    *,
    options: Sequence[tuple[str, Any]] = UNLIMITED_MESSAGES,
) -> grpc.aio.Channel:
    """A channel whose every call presents `key` (None: no key at all)."""
    return grpc.aio.insecure_channel(
        address, options=list(options), interceptors=[] if key is None else [BearerAuth(key)]
    )


async def give_key(
    keys: ApiKeyRepository,
    key: str,
    *,
    org: str = DEV_ORG,
    scopes: tuple[str, ...] = ALL_SCOPES,
    name: str = "test",
) -> str:
    await seed_key(keys, org=org, key=key, scopes=scopes, name=name)
    return key


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
    repository_factory: Callable[[Settings], Storage] = open_repository,
    api_key: str | None = TEST_KEY,
    **overrides: object,
) -> AsyncIterator[tuple[vcon_service_pb2_grpc.VconServiceStub, RunningServer]]:
    """A real grpc.aio server on a free loopback port, in this process. Its
    storage holds `api_key` as an all-scopes key of org `dev`, and the stub
    presents it on every call (None: no key anywhere)."""
    # Redactions in the event loop unless a test asks for worker processes:
    # spawning one per in-process server would make every test pay for it.
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir).with_overrides(
        **{"ledger_credential": LEDGER_CREDENTIAL, "redaction_workers": 0, **overrides}
    )
    running = await create_server(settings, repository_factory=repository_factory)
    if api_key is not None:
        await give_key(running.repository, api_key)
    channel = keyed_channel(f"127.0.0.1:{running.port}", api_key)
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
    # The `development key: ...` line's key.
    dev_key: str = ""

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_server_process(
    data_dir: Path, *extra_args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """`vconstore up --port 0` as a real subprocess; returns once it printed
    its three lines: the ledger's ready line, the development key and the
    store's ready line (which is how scripts are told to wait for them)."""
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
    key_line = line = ""
    if ledger_line.startswith(LEDGER_READY_PREFIX):
        key_line = process.stdout.readline()
        if key_line.startswith(DEV_KEY_PREFIX):
            line = process.stdout.readline()
    if not line.startswith(READY_PREFIX):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(
            f"server did not start: stdout={ledger_line!r} {key_line!r} {line!r} "
            f"stderr={err[-2000:]}"
        )
    return ServerProcess(
        process=process,
        address=line[len(READY_PREFIX) :].strip(),
        data_dir=data_dir,
        ledger_address=ledger_line[len(LEDGER_READY_PREFIX) :].strip(),
        dev_key=key_line[len(DEV_KEY_PREFIX) :].strip(),
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


def create_key_with_cli(data_dir: Path, org: str, *scope_args: str) -> str:
    """`vconstore admin create-key --org ORG --scopes ...` as a real subprocess;
    the key it printed (its only stdout line). `scope_args`: the first value of
    --scopes, then any further arguments as given."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vconstore",
            "admin",
            "create-key",
            "--org",
            org,
            "--data-dir",
            str(data_dir),
            "--scopes",
            *scope_args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vcs_live_sk_"), done.stdout
    return lines[0]


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
    settings = Settings(
        host="127.0.0.1", port=0, data_dir=data_dir, ledger_credential=LEDGER_CREDENTIAL
    )
    running = await create_ledger_server(settings, ledger, repository_factory=repository_factory)
    # Presents the credential, as the store does: the register RPCs demand it.
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{running.port}", interceptors=[BearerAuth(LEDGER_CREDENTIAL)]
    )
    try:
        yield LedgerUnderTest(
            ledger_service_pb2_grpc.LedgerServiceStub(channel), running, issuer_key, data_dir
        )
    finally:
        await channel.close()
        await running.stop(None)


@dataclass
class Stack:
    """A store registering with a ledger, both real gRPC servers in process."""

    store: vcon_service_pb2_grpc.VconServiceStub
    running: RunningServer
    ledger: LedgerUnderTest

    async def ledger_key(self) -> object:
        keys = await self.ledger.stub.ListVerificationKeys(ledger_pb.ListVerificationKeysRequest())
        return public_key_from_pem(keys.keys[0].pem)


def issuer_key_of(data_dir: Path) -> SigningKey:
    """The store's issuer key in its data directory (made if missing)."""
    return SigningKey.load_or_generate(data_dir / ISSUER_KEY_FILE)


@asynccontextmanager
async def stack(tmp_path: Path, **overrides: object) -> AsyncIterator[Stack]:
    store_dir = tmp_path / "store"
    async with (
        inprocess_ledger(tmp_path / "ledger", issuer_key_of(store_dir)) as ledger,
        inprocess_server(
            store_dir, ledger_address=f"127.0.0.1:{ledger.running.port}", **overrides
        ) as (store, running),
    ):
        yield Stack(store, running, ledger)
