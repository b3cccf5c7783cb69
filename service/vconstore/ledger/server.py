"""Composition root of the ledger process (`vconstore ledger serve`): its own
storage, keys, sequencer and gRPC server with health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import structlog

from vconstore.api.auth_interceptor import SharedCredentialInterceptor
from vconstore.api.handlers import add_servicer
from vconstore.config import Settings
from vconstore.keyfiles import load_ledger_credential
from vconstore.ledger.admission import Admission
from vconstore.ledger.config import LedgerSettings
from vconstore.ledger.keyring import Keyring, check_log_key, load_keyring, load_trusted_issuers
from vconstore.ledger.log import TransparencyLog
from vconstore.ledger.ports import LedgerRepository
from vconstore.ledger.sequencer import LogCorrupted, Sequencer
from vconstore.ledger.servicer import LedgerServicer
from vconstore.runtime import (
    StorageHealth,
    bind,
    display_host,
    enable_reflection,
    new_server,
    prepare_data_dir,
    stop_event,
)
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2

__all__ = [
    "LEDGER_SERVICE_NAME",
    "RunningLedger",
    "create_ledger_server",
    "open_ledger_repository",
    "serve_ledger",
]

log = structlog.get_logger("vconstore.ledger")

_SERVICE = ledger_service_pb2.DESCRIPTOR.services_by_name["LedgerService"]
LEDGER_SERVICE_NAME = _SERVICE.full_name
SQLITE_FILE = "ledger.sqlite3"
# Only the store may call these (the shared credential); proofs, checkpoints,
# entries and keys are public: anyone may verify.
REGISTER_METHODS = frozenset(
    f"/{LEDGER_SERVICE_NAME}/{name}" for name in ("RegisterStatement", "RegisterStatements")
)


def open_ledger_repository(settings: Settings) -> LedgerRepository:
    """MongoDB when a URI is configured (collections ledger_*), else a SQLite
    file of its own in the data directory."""
    if settings.mongodb_uri:
        from vconstore.ledger.storage.mongo import MongoLedgerRepository
        from vconstore.server import mongo_options

        return MongoLedgerRepository(mongo_options(settings))
    from vconstore.ledger.storage.sqlite import SqliteLedgerRepository

    return SqliteLedgerRepository(settings.data_dir / SQLITE_FILE)


@dataclass
class RunningLedger:
    server: grpc.aio.Server
    port: int
    log: TransparencyLog
    keyring: Keyring
    sequencer: Sequencer
    repository: LedgerRepository
    health: StorageHealth
    admission: Admission

    async def stop(self, grace: float | None) -> None:
        """Drain calls, sequence what is queued, then release storage."""
        await self.health.stop()
        await self.server.stop(grace)
        await self.sequencer.stop()
        self.admission.close()
        await self.repository.close()


async def create_ledger_server(
    settings: Settings,
    ledger: LedgerSettings,
    *,
    repository_factory: Callable[[Settings], LedgerRepository] = open_ledger_repository,
) -> RunningLedger:
    credential = load_ledger_credential(settings)
    if credential is None:
        raise SystemExit(
            "vconstore: the ledger registers statements only for the store: give it the "
            "credential they share (--credential-file FILE, or VCON_LEDGER_CREDENTIAL(_FILE))"
        )
    data_dir = prepare_data_dir(settings.data_dir)
    keyring = load_keyring(ledger, data_dir)
    issuers = load_trusted_issuers(ledger)
    if not issuers:
        log.warning("no trusted issuers: every statement will be refused")
    repository = repository_factory(settings)
    try:
        await repository.open()
    except ValueError as exc:
        raise SystemExit(f"vconstore: {exc}") from None
    sequencer = Sequencer(
        repository,
        keyring.current,
        origin=ledger.origin,
        max_batch=ledger.batch_max_statements,
        linger=ledger.batch_linger_ms / 1000,
    )
    admission = Admission(issuers, workers=ledger.verify_workers, threads=ledger.verify_threads)
    try:
        await admission.start()
        await sequencer.start()
        if sequencer.ready and sequencer.head is not None:
            check_log_key(keyring, sequencer.head)
    except LogCorrupted as exc:
        admission.close()
        await repository.close()
        raise SystemExit(f"vconstore: the ledger's storage is inconsistent: {exc}") from None
    except BaseException:
        await sequencer.stop()
        admission.close()
        await repository.close()
        raise
    transparency_log = TransparencyLog(
        repository,
        sequencer,
        admission,
        max_statement_bytes=ledger.max_statement_bytes,
    )
    server = new_server(
        settings.max_request_bytes,
        (SharedCredentialInterceptor(credential, REGISTER_METHODS),),
    )
    add_servicer(
        server,
        LedgerServicer(
            transparency_log,
            keyring,
            origin=ledger.origin,
            max_statements_per_call=ledger.max_statements_per_call,
            max_in_flight=settings.max_concurrent_rpcs,
        ),
        _SERVICE,
    )
    health = StorageHealth(
        repository.ping, (LEDGER_SERVICE_NAME,), every=settings.health_probe_seconds
    )
    await health.start(server)
    enable_reflection(server, (LEDGER_SERVICE_NAME,))
    running = RunningLedger(
        server=server,
        port=0,
        log=transparency_log,
        keyring=keyring,
        sequencer=sequencer,
        repository=repository,
        health=health,
        admission=admission,
    )
    try:
        running.port = bind(server, settings.host, settings.port)
    except SystemExit:
        with contextlib.suppress(Exception):
            await running.stop(0)
        raise
    await server.start()
    return running


async def serve_ledger(settings: Settings, ledger: LedgerSettings) -> None:
    from vconstore.server import describe_storage  # as for mongo_options above

    stop = stop_event()
    running = await create_ledger_server(settings, ledger)
    address = f"{display_host(settings.host)}:{running.port}"
    log.info(
        "listening",
        address=address,
        origin=ledger.origin,
        kid=running.keyring.published[0].kid_text,
        tree_size=running.sequencer.size if running.sequencer.ready else "unknown yet",
        storage=describe_storage(settings, sqlite_file=SQLITE_FILE),
    )
    # stdout carries only this line: `vconstore up` and scripts wait for it.
    print(f"ledger ready on {address}", flush=True)
    stopped = asyncio.create_task(stop.wait())
    failed = asyncio.create_task(running.sequencer.failed.wait())
    await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    failed.cancel()
    log.info("draining", grace_seconds=settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
    log.info("stopped")
    failure = running.sequencer.failure
    if failure is not None:
        # Serving on would refuse every registration while looking healthy.
        raise SystemExit(f"vconstore: the ledger cannot load its tree: {failure}")
