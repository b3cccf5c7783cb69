"""Composition root: wires settings, storage, use cases and gRPC services.

`create_server` is separate from `serve` so tests can run a real server in
process on a free port; `serve` adds signal handling and the ready line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import structlog
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vconstore.api.handlers import add_servicer
from vconstore.api.vcon_servicer import VconServicer
from vconstore.application.vcon_store import VconStore
from vconstore.config import Settings
from vconstore.domain.errors import StorageUnavailable
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.validation import ValidationPolicy
from vconstore.ports import VconRepository
from vconstore.storage.sqlite import SqliteVconRepository
from vconstore_proto.vcon.v1 import vcon_service_pb2

if TYPE_CHECKING:
    from vconstore.storage.mongo import MongoOptions

log = structlog.get_logger("vconstore.server")

VCON_SERVICE_NAME = vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"].full_name
PAGE_TOKEN_KEY_FILE = "page-token.key"
SQLITE_FILE = "vconstore.sqlite3"
# Longest startup waits for the first storage check (see _first_storage_status).
FIRST_PROBE_SECONDS = 1.0


def load_page_token_key(data_dir: Path) -> bytes:
    """A per-installation secret, created on first start (mode 0600), so page
    tokens stay valid across restarts."""
    path = data_dir / PAGE_TOKEN_KEY_FILE
    if not path.exists():
        # Written whole under a temporary name, then linked into place: a crash
        # never leaves a short key, and of two instances starting together the
        # second finds the first one's key instead of replacing it.
        temporary = data_dir / f".{PAGE_TOKEN_KEY_FILE}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = path.read_bytes()
    if len(key) < 16:
        raise SystemExit(
            f"vconstore: {path} holds {len(key)} bytes, too short for a page-token key; "
            "delete it and a new one is made (outstanding page tokens become invalid)"
        )
    return key


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


def open_repository(settings: Settings) -> VconRepository:
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


def describe_storage(settings: Settings) -> str:
    """For logs: which backend, where; never the URI's credentials or options."""
    if settings.mongodb_uri:
        return f"mongodb {mongo_options(settings).describe()}"
    return f"sqlite {settings.data_dir / SQLITE_FILE}"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    repository: VconRepository
    health: health.aio.HealthServicer
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self, grace: float | None) -> None:
        """Drain in-flight calls (up to `grace` seconds), then release storage."""
        for task in self._tasks:
            task.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.repository.close()


SERVING = int(health_pb2.HealthCheckResponse.SERVING)
NOT_SERVING = int(health_pb2.HealthCheckResponse.NOT_SERVING)


async def _storage_status(repository: VconRepository) -> int:
    try:
        await repository.ping()
    except StorageUnavailable:
        return NOT_SERVING
    return SERVING


async def _first_storage_status(repository: VconRepository) -> int:
    """The status to start with. Bounded, so an unreachable MongoDB (whose
    ping waits for its server selection timeout) delays startup by at most
    FIRST_PROBE_SECONDS instead of holding it: the service starts NOT_SERVING
    and the probe flips it when storage answers."""
    try:
        return await asyncio.wait_for(_storage_status(repository), FIRST_PROBE_SECONDS)
    except TimeoutError:
        return NOT_SERVING


async def _publish_health(servicer: health.aio.HealthServicer, status: int) -> None:
    for name in ("", VCON_SERVICE_NAME):
        await servicer.set(name, status)
    log.info("health", status=health_pb2.HealthCheckResponse.ServingStatus.Name(status))


async def _probe_storage(
    repository: VconRepository, servicer: health.aio.HealthServicer, every: float, last: int
) -> None:
    """Keep grpc.health.v1 in step with storage: NOT_SERVING while it is down."""
    while True:
        await asyncio.sleep(every)
        status = await _storage_status(repository)
        if status != last:
            await _publish_health(servicer, status)
            last = status


async def create_server(
    settings: Settings,
    *,
    repository_factory: Callable[[Settings], VconRepository] = open_repository,
) -> RunningServer:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        page_token_key = load_page_token_key(settings.data_dir)
    except OSError as exc:
        raise SystemExit(
            f"vconstore: cannot use data directory {settings.data_dir}: {exc}"
        ) from None
    policy = validation_policy(settings)
    repository = repository_factory(settings)
    try:
        await repository.open()
    except ValueError as exc:
        # A storage setting that cannot work (a malformed MongoDB URI): say so
        # and exit, without a traceback. The message is already credential-free.
        raise SystemExit(f"vconstore: {exc}") from None
    store = VconStore(repository, policy=policy, page_tokens=PageTokenCodec(page_token_key))
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_send_message_length", -1),
            # A second server on a taken port must fail, not share the port
            # and silently receive half of the calls (gRPC's default is on).
            ("grpc.so_reuseport", 0),
        ],
    )
    add_servicer(
        server,
        VconServicer(store, org=settings.default_org, max_in_flight=settings.max_concurrent_rpcs),
        vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"],
    )
    health_servicer = health.aio.HealthServicer()
    # Known before the first call is accepted: grpc_health would otherwise
    # answer SERVING for "" while storage has not been checked yet.
    first_status = await _first_storage_status(repository)
    await _publish_health(health_servicer, first_status)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (VCON_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    except RuntimeError:  # grpc's answer to an address it cannot bind
        port = 0
    if port == 0:
        await repository.close()
        raise SystemExit(
            f"vconstore: cannot listen on {settings.host}:{settings.port} "
            "(address in use or not an address of this machine)"
        )
    await server.start()
    running = RunningServer(server=server, port=port, repository=repository, health=health_servicer)
    running._tasks.append(
        asyncio.create_task(
            _probe_storage(repository, health_servicer, settings.health_probe_seconds, first_status)
        )
    )
    return running


def _grpcurl_command() -> str:
    """grpcurl as the person can type it: on PATH, else the one in our venv."""
    if shutil.which("grpcurl"):
        return "grpcurl"
    beside = Path(sys.executable).parent / "grpcurl"
    return str(beside) if beside.exists() else "grpcurl"


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def serve(settings: Settings) -> None:
    # Handlers first: a SIGTERM during start-up still ends in an orderly exit 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = await create_server(settings)
    address = f"{_display_host(settings.host)}:{running.port}"
    log.info(
        "listening",
        address=address,
        data_dir=str(settings.data_dir),
        storage=describe_storage(settings),
    )
    # stdout carries only this line (scripts wait for it); the hint is for people.
    print(f"vconstore ready on {address}", flush=True)
    print(f"try: {_grpcurl_command()} -plaintext {address} list", file=sys.stderr, flush=True)
    await stop.wait()
    log.info("draining", grace_seconds=settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
    log.info("stopped")
