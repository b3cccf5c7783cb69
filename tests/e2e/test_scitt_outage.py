"""Every operation ends on the ledger exactly once, through a ledger outage and
a store restart: `vconstore ledger serve` and `vconstore serve` as real
processes, the ledger SIGKILLed under load and brought back later."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import (
    LEDGER_CREDENTIAL,
    LEDGER_READY_PREFIX,
    READY_PREFIX,
    create_key_with_cli,
    keyed_channel,
    minimal_vcon,
    refused_port,
    start_vconstore,
)
from vconstore.ledger.signing import SigningKey
from vconstore_client import verify_scitt_entry
from vconstore_client.transparency.keys import public_key_from_pem
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as ledger_pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

LEDGER_SERVICE = "vcon.ledger.v1.LedgerService"
REGISTERED = pb.ScittEntry.REGISTERED
PENDING = pb.ScittEntry.PENDING
# Long enough for a loaded 2-core CI machine to register a few hundred backlog entries.
SETTLE_SECONDS = 90.0


@dataclass
class Deployment:
    """A ledger and a store in separate processes, each restartable in place."""

    root: Path
    ledger_port: int = field(default_factory=refused_port)
    ledger: subprocess.Popen[str] | None = None
    store: subprocess.Popen[str] | None = None
    store_address: str = ""
    # Made with `vconstore admin create-key` before the store first starts.
    api_key: str = ""

    def __post_init__(self) -> None:
        key = SigningKey.load_or_generate(self.root / "issuer-key.pem")
        (self.root / "issuer-public.pem").write_text(key.public_pem(), encoding="ascii")
        self.api_key = create_key_with_cli(
            self.root / "store", "dev", "vcons:read,vcons:write", "--scopes", "vcons:delete"
        )

    def start_ledger(self) -> None:
        self.ledger, _ = start_vconstore(
            [
                "ledger",
                "serve",
                "--port",
                str(self.ledger_port),
                "--data-dir",
                str(self.root / "ledger"),
                "--trusted-issuer",
                f"vconstore={self.root / 'issuer-public.pem'}",
            ],
            LEDGER_READY_PREFIX,
            env={"VCON_LEDGER_CREDENTIAL": LEDGER_CREDENTIAL},
        )

    def kill_ledger(self) -> None:
        assert self.ledger is not None
        self.ledger.kill()
        self.ledger.wait(timeout=30)

    def start_store(self) -> None:
        self.store, self.store_address = start_vconstore(
            [
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.root / "store"),
                "--ledger-address",
                f"127.0.0.1:{self.ledger_port}",
            ],
            READY_PREFIX,
            env={
                "VCON_ISSUER_KEY_FILE": str(self.root / "issuer-key.pem"),
                "VCON_SCITT_RETRY_MAX_SECONDS": "0.5",
                "VCON_LEDGER_CREDENTIAL": LEDGER_CREDENTIAL,
            },
        )

    def stop_store(self) -> int:
        assert self.store is not None
        self.store.send_signal(signal.SIGTERM)
        return self.store.wait(timeout=60)

    def close(self) -> None:
        for process in (self.store, self.ledger):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    running = Deployment(tmp_path)
    try:
        yield running
    finally:
        running.close()


async def _health(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10
        )
        return int(answer.status)


class Operations:
    """What the store answered for each operation, per uuid, in order."""

    def __init__(self, stub: vcon_service_pb2_grpc.VconServiceStub) -> None:
        self.stub = stub
        self.history: dict[str, list[tuple[str, str]]] = {}
        self.statuses: list[int] = []

    def _record(self, uuid: str, entry: pb.ScittEntry) -> None:
        self.history.setdefault(uuid, []).append((entry.operation, entry.entry_id))
        self.statuses.append(entry.status)

    async def create(self) -> str:
        uuid = str(uuidlib.uuid4())
        answer = await self.stub.CreateVcon(
            pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon(uuid=uuid))), timeout=30
        )
        self._record(uuid, answer.scitt)
        return uuid

    async def delete(self, uuid: str) -> None:
        answer = await self.stub.DeleteVcon(pb.DeleteVconRequest(uuid=uuid), timeout=30)
        self._record(uuid, answer.scitt)

    async def load(self, creates: int, *, delete_every: int, workers: int = 16) -> None:
        """`creates` creates, each `delete_every`-th one deleted right after,
        from `workers` concurrent clients."""
        queue = list(range(creates))

        async def worker() -> None:
            while queue:
                number = queue.pop()
                uuid = await self.create()
                if number % delete_every == 0:
                    await self.delete(uuid)

        await asyncio.gather(*(worker() for _ in range(workers)))


async def _entries(stub: vcon_service_pb2_grpc.VconServiceStub, uuid: str) -> list[pb.ScittEntry]:
    answer = await stub.ListScittEntries(pb.ListScittEntriesRequest(uuid=uuid), timeout=30)
    return list(answer.entries)


async def _all_registered(
    stub: vcon_service_pb2_grpc.VconServiceStub, uuids: list[str]
) -> dict[str, list[pb.ScittEntry]]:
    """Every uuid's entries once all are REGISTERED (the registrar's backlog
    drained), polling the API; fails after SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        listed = {uuid: await _entries(stub, uuid) for uuid in uuids}
        pending = sum(e.status != REGISTERED for entries in listed.values() for e in entries)
        if pending == 0:
            return listed
        assert time.monotonic() < deadline, f"{pending} entries still pending"
        await asyncio.sleep(0.2)


async def test_every_operation_is_registered_exactly_once_through_an_outage_and_a_restart(
    deployment: Deployment,
) -> None:
    deployment.start_ledger()
    deployment.start_store()
    channel = keyed_channel(deployment.store_address, deployment.api_key)
    ops = Operations(vcon_service_pb2_grpc.VconServiceStub(channel))
    await ops.load(20, delete_every=4, workers=4)
    assert set(ops.statuses) == {REGISTERED}

    # The ledger dies; creates and deletes go on under load, answered PENDING.
    deployment.kill_ledger()
    ops.statuses.clear()
    await ops.load(150, delete_every=3)
    assert len(ops.statuses) == 150 + 50
    assert PENDING in ops.statuses
    serving = health_pb2.HealthCheckResponse.SERVING
    assert await _health(deployment.store_address, "") == serving
    assert await _health(deployment.store_address, "vcon.v1.VconService") == serving
    assert await _health(deployment.store_address, LEDGER_SERVICE) != serving
    await channel.close()

    # The store restarts with its backlog, then the ledger comes back.
    assert deployment.stop_store() == 0
    deployment.start_store()
    deployment.start_ledger()
    channel = keyed_channel(deployment.store_address, deployment.api_key)
    stub = vcon_service_pb2_grpc.VconServiceStub(channel)
    try:
        listed = await _all_registered(stub, list(ops.history))
        ledger_address = f"127.0.0.1:{deployment.ledger_port}"
        async with grpc.aio.insecure_channel(ledger_address) as ledger_channel:
            ledger = ledger_service_pb2_grpc.LedgerServiceStub(ledger_channel)
            keys = await ledger.ListVerificationKeys(ledger_pb.ListVerificationKeysRequest())
            ledger_key = public_key_from_pem(keys.keys[0].pem)
            for uuid, expected in ops.history.items():
                entries = listed[uuid]
                # The store lists exactly what it answered, oldest first...
                assert [(e.operation, e.entry_id) for e in entries] == expected
                # ...each receipt verifies with the ledger's public key alone...
                for entry in entries:
                    verify_scitt_entry(entry, ledger_key, uuid=uuid)
                # ...and the ledger holds each operation once (in the order
                # the backlog reached it, which need not be the operations').
                registrations = await ledger.ListVconEntries(
                    ledger_pb.ListVconEntriesRequest(vcon_uuid=uuid)
                )
                assert sorted(r.entry.entry_id for r in registrations.registrations) == sorted(
                    entry_id for _, entry_id in expected
                )
        assert await _health(deployment.store_address, LEDGER_SERVICE) == serving
    finally:
        await channel.close()
