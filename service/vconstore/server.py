"""Composition root: wires settings, storage, use cases and gRPC services.

`create_server` runs the store's gRPC server; tests run it in process on a
free port, and `vconstore up` (up.py) adds the ledger, signals and the ready
lines.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import structlog
from cryptography import x509
from grpc_health.v1 import health_pb2

from vconstore.api.api_key_servicer import ApiKeyServicer
from vconstore.api.auth_interceptor import ApiKeyInterceptor
from vconstore.api.handlers import add_servicer
from vconstore.api.vcon_servicer import VconServicer
from vconstore.application.api_keys import ApiKeyAdmin
from vconstore.application.redactions import Redactions
from vconstore.application.vcon_store import Ledgering, VconStore
from vconstore.auth.authenticator import Authenticator
from vconstore.config import Settings
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.validation import ValidationPolicy
from vconstore.keyfiles import (
    load_issuer_key,
    load_ledger_credential,
    load_org_pseudonym_key,
    load_page_token_key,
)
from vconstore.ledger.signing import SigningKey
from vconstore.metrics import MetricsEndpoint, StoreMetrics
from vconstore.ports import Storage
from vconstore.redaction.policies import RedactionPolicy, load_policies
from vconstore.redaction.signing import VconSigner
from vconstore.redaction.workers import RedactionWorkers
from vconstore.runtime import (
    StorageHealth,
    bind,
    enable_reflection,
    new_server,
    prepare_data_dir,
)
from vconstore.scitt.issuer import StatementIssuer
from vconstore.scitt.ledger_client import LEDGER_SERVICE_NAME, GrpcLedger
from vconstore.scitt.registrar import Registrar, RegistrarTiming
from vconstore.storage.sqlite import SqliteVconRepository
from vconstore_proto.vcon.v1 import api_key_service_pb2, vcon_service_pb2

if TYPE_CHECKING:
    from vconstore.storage.mongo import MongoOptions

log = structlog.get_logger("vconstore.server")

_VCON_SERVICE = vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"]
_API_KEY_SERVICE = api_key_service_pb2.DESCRIPTOR.services_by_name["ApiKeyService"]
VCON_SERVICE_NAME = _VCON_SERVICE.full_name
API_KEY_SERVICE_NAME = _API_KEY_SERVICE.full_name
SQLITE_FILE = "vconstore.sqlite3"


def load_trust_anchors(path: Path | None) -> tuple[x509.Certificate, ...]:
    if path is None:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"vconstore: VCON_JWS_TRUST_ANCHORS {path}: not a readable PEM certificate bundle "
            f"({type(exc).__name__}: {exc})"
        ) from None


def validation_policy(settings: Settings) -> ValidationPolicy:
    return ValidationPolicy(
        strict=settings.strict,
        supported_extensions=settings.supported_extensions,
        max_vcon_bytes=settings.max_vcon_bytes,
        max_array_length=settings.max_array_length,
        max_depth=settings.max_depth,
        trust_anchors=load_trust_anchors(settings.jws_trust_anchors),
    )


def open_repository(settings: Settings) -> Storage:
    """MongoDB when a URI is configured, else the embedded SQLite file."""
    if settings.mongodb_uri:
        # Imported here so a SQLite-only start does not load pymongo.
        from vconstore.storage.mongo import MongoVconRepository

        return MongoVconRepository(mongo_options(settings))
    return SqliteVconRepository(settings.data_dir / SQLITE_FILE)


def mongo_options(settings: Settings) -> MongoOptions:
    from vconstore.storage.mongo import MongoOptions

    if not settings.mongodb_uri:
        raise ValueError("no MongoDB URI configured")
    return MongoOptions(
        uri=settings.mongodb_uri,
        database=settings.mongodb_database,
        server_selection_timeout_ms=settings.mongodb_server_selection_timeout_ms,
        connect_timeout_ms=settings.mongodb_connect_timeout_ms,
        socket_timeout_ms=settings.mongodb_socket_timeout_ms,
        max_pool_size=settings.mongodb_max_pool_size,
        write_concern=settings.mongodb_write_concern,
        journal=settings.mongodb_journal,
        write_timeout_ms=settings.mongodb_write_timeout_ms,
    )


def describe_storage(settings: Settings, *, sqlite_file: str = SQLITE_FILE) -> str:
    """For logs: which backend, where; never the URI's credentials or options.
    (The ledger passes its own SQLite file name.)"""
    if settings.mongodb_uri:
        return f"mongodb {mongo_options(settings).describe()}"
    return f"sqlite {settings.data_dir / sqlite_file}"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    repository: Storage
    health: StorageHealth
    metrics: StoreMetrics = field(default_factory=StoreMetrics)
    registrar: Registrar | None = None
    metrics_endpoint: MetricsEndpoint | None = None
    redaction_workers: RedactionWorkers | None = None

    async def stop(self, grace: float | None) -> None:
        """Drain in-flight calls (up to `grace` seconds), then stop registering
        (what is unfinished stays pending in storage) and release storage."""
        await self.health.stop()
        await self.server.stop(grace)
        if self.registrar is not None:
            await self.registrar.stop()
        if self.redaction_workers is not None:
            self.redaction_workers.close()
        await self.repository.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


def redaction_policies(settings: Settings) -> dict[str, RedactionPolicy]:
    try:
        return load_policies(settings.redaction_policies_file)
    except ValueError as exc:
        raise SystemExit(f"vconstore: {exc}") from None


def statement_issuer(settings: Settings, key: SigningKey) -> StatementIssuer:
    return StatementIssuer(
        key,
        name=settings.issuer_name,
        pseudonym_secret=load_org_pseudonym_key(settings),
    )


async def create_server(
    settings: Settings,
    *,
    repository_factory: Callable[[Settings], Storage] = open_repository,
) -> RunningServer:
    prepare_data_dir(settings.data_dir)
    try:
        page_token_key = load_page_token_key(settings.data_dir)
    except OSError as exc:
        raise SystemExit(
            f"vconstore: cannot use data directory {settings.data_dir}: {exc}"
        ) from None
    policy = validation_policy(settings)
    # One key signs the ledger statements and the vCons' JWS form: read once.
    issuer_key = load_issuer_key(settings)
    repository = repository_factory(settings)
    try:
        await repository.open()
    except ValueError as exc:
        # A storage setting that cannot work (a malformed MongoDB URI): say so
        # and exit, without a traceback. The message is already credential-free.
        raise SystemExit(f"vconstore: {exc}") from None
    metrics = StoreMetrics()
    page_tokens = PageTokenCodec(page_token_key)
    authenticator = Authenticator(repository)
    server = new_server(settings.max_request_bytes, (ApiKeyInterceptor(authenticator),))
    storage_health = StorageHealth(
        repository.ping,
        (VCON_SERVICE_NAME, API_KEY_SERVICE_NAME),
        every=settings.health_probe_seconds,
    )
    registrar = None
    ledgering = None
    if settings.ledger_address is not None:
        ledgering, registrar = _ledgering(settings, repository, metrics, storage_health, issuer_key)
    store = VconStore(
        repository,
        policy=policy,
        page_tokens=page_tokens,
        ledgering=ledgering,
    )
    workers = RedactionWorkers(settings.redaction_workers)
    redactions = Redactions(
        store,
        repository,
        policies=redaction_policies(settings),
        signer=VconSigner(issuer_key, issuer=settings.issuer_name),
        page_tokens=page_tokens,
        workers=workers,
        max_bytes=settings.redaction_max_bytes,
    )
    add_servicer(
        server,
        VconServicer(store, redactions, max_in_flight=settings.max_concurrent_rpcs),
        _VCON_SERVICE,
    )
    add_servicer(
        server,
        ApiKeyServicer(
            ApiKeyAdmin(repository, authenticator=authenticator, page_tokens=page_tokens),
            max_in_flight=settings.max_concurrent_rpcs,
        ),
        _API_KEY_SERVICE,
    )
    await storage_health.start(server)
    enable_reflection(server, (VCON_SERVICE_NAME, API_KEY_SERVICE_NAME))
    endpoint = None
    try:
        port = bind(server, settings.host, settings.port)
        if settings.metrics_port is not None:
            endpoint = MetricsEndpoint(metrics, settings.host, settings.metrics_port)
        if registrar is not None:
            await registrar.start()
        await workers.start()
        await server.start()
    except BaseException:
        # Whatever stopped the start-up, nothing opened so far outlives it.
        workers.close()
        await storage_health.stop()
        if registrar is not None:
            await registrar.stop()
        await repository.close()
        if endpoint is not None:
            endpoint.close()
        raise
    return RunningServer(
        server=server,
        port=port,
        repository=repository,
        health=storage_health,
        metrics=metrics,
        registrar=registrar,
        metrics_endpoint=endpoint,
        redaction_workers=workers,
    )


def _ledgering(
    settings: Settings,
    repository: Storage,
    metrics: StoreMetrics,
    health: StorageHealth,
    issuer_key: SigningKey,
) -> tuple[Ledgering, Registrar]:
    assert settings.ledger_address is not None

    async def report(reachable: bool) -> None:
        # Under the ledger's own name: the store itself stays SERVING (its
        # health is its storage's), as creates and deletes still succeed.
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if reachable
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        await health.set(LEDGER_SERVICE_NAME, status)
        log.info("ledger health", reachable=reachable, address=settings.ledger_address)

    registrar = Registrar(
        repository,
        GrpcLedger(
            settings.ledger_address,
            timeout=settings.ledger_timeout_seconds,
            credential=load_ledger_credential(settings),
        ),
        metrics=metrics,
        on_reachability=report,
        timing=RegistrarTiming(
            retry_max=settings.scitt_retry_max_seconds,
            # Until then the call that stored an entry (here or on another
            # replica) may still be registering it.
            min_age=settings.scitt_wait_seconds + settings.ledger_timeout_seconds,
        ),
    )
    ledgering = Ledgering(
        issuer=statement_issuer(settings, issuer_key),
        registrar=registrar,
        wait_seconds=settings.scitt_wait_seconds,
    )
    return ledgering, registrar


def grpcurl_command() -> str:
    """grpcurl as the person can type it: on PATH, else the one in our venv."""
    if shutil.which("grpcurl"):
        return "grpcurl"
    beside = Path(sys.executable).parent / "grpcurl"
    return str(beside) if beside.exists() else "grpcurl"
