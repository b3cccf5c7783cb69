"""The ledger as its own process: started by `vconstore up` (before the store,
on its own port) or alone with `vconstore ledger serve`, over real gRPC."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import (
    LEDGER_CREDENTIAL,
    LEDGER_READY_PREFIX,
    BearerAuth,
    ServerProcess,
    issuer_trust_file,
    keyed_channel,
    minimal_vcon,
    start_vconstore,
)
from vconstore.keyfiles import ISSUER_KEY_FILE
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import OperationRecord, make_statement
from vconstore_client.transparency import (
    verify_checkpoint,
    verify_consistency_proof,
    verify_receipt,
)
from vconstore_client.transparency.keys import public_key_from_pem
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as vcon_pb
from vconstore_proto.vcon.v1.vcon_service_pb2_grpc import VconServiceStub

LEDGER_SERVICE = "vcon.ledger.v1.LedgerService"
ISSUER_NAME = "vconstore"  # the default issuer name (Settings.issuer_name)


def _statement(key: SigningKey, issuer: str, n: int) -> bytes:
    return make_statement(
        OperationRecord(
            operation="register",
            vcon_uuid=f"018f0000-0000-7000-8000-{n:012x}",
            org="b" * 64,
            content_hash="sha256:" + "c" * 64,
            issued_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        ),
        key,
        issuer,
    )


def _registrar_channel(
    address: str, credential: str | None = LEDGER_CREDENTIAL
) -> grpc.aio.Channel:
    """A channel presenting the store-ledger credential, as the store does."""
    interceptors = [] if credential is None else [BearerAuth(credential)]
    return grpc.aio.insecure_channel(address, interceptors=interceptors)


async def _register(
    address: str, raw: bytes, credential: str | None = LEDGER_CREDENTIAL
) -> pb.Registration:
    async with _registrar_channel(address, credential) as channel:
        stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)
        answer = await stub.RegisterStatement(pb.RegisterStatementRequest(signed_statement=raw))
        return answer.registration


async def _checkpoint(address: str) -> pb.GetCheckpointResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)
        return await stub.GetCheckpoint(pb.GetCheckpointRequest())


async def _current_key_pem(address: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)
        keys = (await stub.ListVerificationKeys(pb.ListVerificationKeysRequest())).keys
        return next(k.pem for k in keys if k.current)


async def test_up_runs_the_ledger_as_its_own_process_trusting_the_store(
    server: ServerProcess,
) -> None:
    assert server.ledger_address and server.ledger_address != server.address
    async with grpc.aio.insecure_channel(server.ledger_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=LEDGER_SERVICE))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    # Only the store may register: up made a credential for this start, which
    # nobody else holds, so even a statement signed with the store's own
    # issuer key is refused here, and so is a guess.
    issuer = SigningKey.from_pem((server.data_dir / ISSUER_KEY_FILE).read_bytes())
    raw = _statement(issuer, ISSUER_NAME, 1)
    for credential in (None, LEDGER_CREDENTIAL):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _register(server.ledger_address, raw, credential)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The store's own registrations go through, with receipts from this ledger.
    async with keyed_channel(server.address, server.dev_key) as channel:
        created = await VconServiceStub(channel).CreateVcon(
            vcon_pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon()))
        )
    assert created.scitt.status == vcon_pb.ScittEntry.REGISTERED
    key = public_key_from_pem(await _current_key_pem(server.ledger_address))
    verify_receipt(created.scitt.receipt, key, statement=created.scitt.signed_statement)


def _free_port_pair() -> int:
    """A port P with P + 1 free too (checked, then released)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free ports")


def _up(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vconstore", "up", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_ledger_port_defaults_to_the_store_port_plus_one(tmp_path: Path) -> None:
    port = _free_port_pair()
    process = _up(tmp_path / "data", "--host", "127.0.0.1", "--port", str(port))
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == f"ledger ready on 127.0.0.1:{port + 1}\n"
        assert process.stdout.readline().startswith("development key: vcs_live_sk_")
        assert process.stdout.readline() == f"vconstore ready on 127.0.0.1:{port}\n"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_up_refuses_clearly_when_the_ledger_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _up(tmp_path / "data", "--port", "0", "--ledger-port", str(port))
        out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert out == ""
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "the ledger did not start" in err


@dataclass
class LedgerProcess:
    process: subprocess.Popen[str]
    address: str

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def _ledger_serve(data_dir: Path, trust: Path) -> LedgerProcess:
    process, address = start_vconstore(
        [
            "ledger",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--trusted-issuer",
            f"press={trust}",
            "--origin",
            "ledger.test/vcons",
        ],
        LEDGER_READY_PREFIX,
        env={"VCON_LEDGER_CREDENTIAL": LEDGER_CREDENTIAL},
    )
    return LedgerProcess(process, address)


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[tuple[SigningKey, Path]]:
    key = SigningKey.generate()
    yield key, issuer_trust_file(tmp_path / "trust", key)


async def test_ledger_serve_alone_survives_a_restart(
    tmp_path: Path, issuer: tuple[SigningKey, Path]
) -> None:
    key, trust = issuer
    ledger = _ledger_serve(tmp_path / "ledger", trust)
    try:
        raws = [_statement(key, "press", n) for n in range(3)]
        for raw in raws:
            await _register(ledger.address, raw)
        before = await _checkpoint(ledger.address)
        assert before.origin == "ledger.test/vcons"
    finally:
        assert ledger.terminate() == 0
    ledger = _ledger_serve(tmp_path / "ledger", trust)
    try:
        after = await _checkpoint(ledger.address)
        assert (after.tree_size, after.root_hash) == (3, before.root_hash)
        public = public_key_from_pem(await _current_key_pem(ledger.address))
        assert verify_checkpoint(after.checkpoint, public, origin="ledger.test/vcons").size == 3
        again = await _register(ledger.address, raws[0])
        assert again.already_registered and again.entry.leaf_index == 0
    finally:
        assert ledger.terminate() == 0


def _refuses_connections(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return False
    except OSError:
        return True


def test_a_killed_up_takes_its_ledger_down(tmp_path: Path) -> None:
    process = _up(tmp_path / "data", "--port", "0")
    assert process.stdout is not None
    ledger_address = process.stdout.readline().removeprefix(LEDGER_READY_PREFIX).strip()
    assert process.stdout.readline().startswith("development key: ")
    assert process.stdout.readline().startswith("vconstore ready on ")
    assert not _refuses_connections(ledger_address)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while not _refuses_connections(ledger_address):
        assert time.monotonic() < deadline, "the ledger outlived the killed `vconstore up`"
        time.sleep(0.05)


def test_grpcurl_reaches_the_ledger(server: ServerProcess, grpcurl: str) -> None:
    listed = subprocess.run(
        [grpcurl, "-plaintext", server.ledger_address, "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert LEDGER_SERVICE in listed.stdout.split()
    answer = subprocess.run(
        [grpcurl, "-plaintext", server.ledger_address, f"{LEDGER_SERVICE}/GetCheckpoint"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    checkpoint = json.loads(answer.stdout)
    assert checkpoint["checkpoint"].startswith(checkpoint["origin"] + "\n0\n")


async def test_acknowledged_registrations_survive_a_sigkill(
    tmp_path: Path, issuer: tuple[SigningKey, Path]
) -> None:
    """Registrations answered before the ledger is killed are all in the log
    after a restart, with receipts that still verify, and the tree the
    restart resumes is consistent with every checkpoint seen before."""
    key, trust = issuer
    ledger = _ledger_serve(tmp_path / "ledger", trust)
    raws = [_statement(key, "press", n) for n in range(600)]
    acknowledged: list[tuple[bytes, pb.Registration]] = []
    checkpoints: list[pb.GetCheckpointResponse] = []
    try:
        async with _registrar_channel(ledger.address) as channel:
            stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)

            async def register(chunk: list[bytes]) -> None:
                try:
                    answer = await stub.RegisterStatements(
                        pb.RegisterStatementsRequest(signed_statements=chunk)
                    )
                except grpc.aio.AioRpcError:
                    return  # the kill came first: not acknowledged
                acknowledged.extend(
                    (raw, result.registration)
                    for raw, result in zip(chunk, answer.results, strict=True)
                )
                if len(acknowledged) >= 100:
                    enough.set()

            enough = asyncio.Event()
            tasks = [
                asyncio.create_task(register(raws[i : i + 20])) for i in range(0, len(raws), 20)
            ]
            # Kill once 100 are answered, with the rest still in flight.
            await enough.wait()
            checkpoints.append(await stub.GetCheckpoint(pb.GetCheckpointRequest()))
            ledger.process.kill()
            ledger.process.wait(timeout=10)
            await asyncio.gather(*tasks)
    finally:
        if ledger.process.poll() is None:
            ledger.process.kill()
    assert acknowledged
    ledger = _ledger_serve(tmp_path / "ledger", trust)
    try:
        async with grpc.aio.insecure_channel(ledger.address) as channel:
            stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)
            public = public_key_from_pem(await _current_key_pem(ledger.address))
            after = await stub.GetCheckpoint(pb.GetCheckpointRequest())
            assert after.tree_size >= len(acknowledged)
            for raw, registration in acknowledged:
                got = await stub.GetEntry(pb.GetEntryRequest(entry_id=registration.entry.entry_id))
                assert got.registration.entry.leaf_index == registration.entry.leaf_index
                verify_receipt(registration.receipt, public, statement=raw)
            for before in checkpoints:
                proof = await stub.GetConsistencyProof(
                    pb.GetConsistencyProofRequest(first_tree_size=before.tree_size)
                )
                verify_consistency_proof(
                    before.tree_size,
                    proof.second_tree_size,
                    before.root_hash,
                    proof.second_root_hash,
                    list(proof.hashes),
                )
    finally:
        assert ledger.terminate() == 0


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_ledger_leaves_no_worker_behind(
    tmp_path: Path, issuer: tuple[SigningKey, Path]
) -> None:
    """The statement-checking worker processes end with their ledger, even
    when it is SIGKILLed and cannot stop them itself."""
    _, trust = issuer
    ledger = _ledger_serve(tmp_path / "ledger", trust)
    workers = _children(ledger.process.pid)
    assert workers, "the ledger runs its checking workers as child processes"
    ledger.process.kill()
    ledger.process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their ledger"
        time.sleep(0.05)


def _ledger_child(up_pid: int) -> int:
    (ledger_pid,) = [
        pid
        for pid in _children(up_pid)
        if b"ledger\x00serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return ledger_pid


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_up_serves_on_when_its_ledger_dies_and_says_so_at_exit(tmp_path: Path) -> None:
    process = _up(tmp_path / "data", "--port", "0")
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.readline()
    address = process.stdout.readline().removeprefix("vconstore ready on ").strip()
    os.kill(_ledger_child(process.pid), signal.SIGKILL)
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "the ledger ended with exit code -9" in err
