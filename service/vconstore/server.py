"""Composition root: wires settings, storage, use cases and gRPC services.

`create_server` runs the store's gRPC server; tests run it in process on a
free port, and `vconstore up` (up.py) adds the ledger, signals and the ready
lines.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import structlog
from cryptography import x509

from vconstore.api.handlers import add_servicer
from vconstore.api.vcon_servicer import VconServicer
from vconstore.application.vcon_store import VconStore
from vconstore.config import Settings
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.validation import ValidationPolicy
from vconstore.ports import VconRepository
from vconstore.runtime import (
    StorageHealth,
    bind,
    enable_reflection,
    new_server,
    prepare_data_dir,
)
from vconstore.storage.sqlite import SqliteVconRepository
from vconstore_proto.vcon.v1 import vcon_service_pb2

if TYPE_CHECKING:
    from vconstore.storage.mongo import MongoOptions

log = structlog.get_logger("vconstore.server")

VCON_SERVICE_NAME = vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"].full_name
PAGE_TOKEN_KEY_FILE = "page-token.key"
SQLITE_FILE = "vconstore.sqlite3"


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
    health: StorageHealth

    async def stop(self, grace: float | None) -> None:
        """Drain in-flight calls (up to `grace` seconds), then release storage."""
        await self.health.stop()
        await self.server.stop(grace)
        await self.repository.close()


async def create_server(
    settings: Settings,
    *,
    repository_factory: Callable[[Settings], VconRepository] = open_repository,
) -> RunningServer:
    prepare_data_dir(settings.data_dir)
    try:
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
    server = new_server(settings.max_request_bytes)
    add_servicer(
        server,
        VconServicer(store, org=settings.default_org, max_in_flight=settings.max_concurrent_rpcs),
        vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"],
    )
    storage_health = StorageHealth(
        repository.ping, (VCON_SERVICE_NAME,), every=settings.health_probe_seconds
    )
    await storage_health.start(server)
    enable_reflection(server, (VCON_SERVICE_NAME,))
    try:
        port = bind(server, settings.host, settings.port)
    except SystemExit:
        await storage_health.stop()
        await repository.close()
        raise
    await server.start()
    return RunningServer(server=server, port=port, repository=repository, health=storage_health)


def grpcurl_command() -> str:
    """grpcurl as the person can type it: on PATH, else the one in our venv."""
    if shutil.which("grpcurl"):
        return "grpcurl"
    beside = Path(sys.executable).parent / "grpcurl"
    return str(beside) if beside.exists() else "grpcurl"
