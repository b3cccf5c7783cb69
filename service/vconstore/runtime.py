"""What every vconstore gRPC process does the same way: the server's options,
binding its port, health that follows storage, the ready line and signals.
Used by the store (server.py) and the ledger (ledger/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vconstore.domain.errors import StorageUnavailable

__all__ = [
    "NOT_SERVING",
    "SERVING",
    "StorageHealth",
    "bind",
    "display_host",
    "new_server",
    "prepare_data_dir",
    "stop_event",
]

log = structlog.get_logger("vconstore.runtime")

SERVING = int(health_pb2.HealthCheckResponse.SERVING)
NOT_SERVING = int(health_pb2.HealthCheckResponse.NOT_SERVING)
# Longest startup waits for the first storage check (see StorageHealth.start).
FIRST_PROBE_SECONDS = 1.0


def new_server(
    max_request_bytes: int, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
) -> grpc.aio.Server:
    return grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", -1),
            # A second server on a taken port must fail, not share the port
            # and silently receive half of the calls (gRPC's default is on).
            ("grpc.so_reuseport", 0),
        ],
    )


def bind(server: grpc.aio.Server, host: str, port: int) -> int:
    """Listen on host:port; the real port (for port 0). Raises SystemExit with
    a one-line reason when the address cannot be used."""
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpc's answer to an address it cannot bind
        bound = 0
    if bound == 0:
        raise SystemExit(
            f"vconstore: cannot listen on {host}:{port} "
            "(address in use or not an address of this machine)"
        )
    return bound


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory if needed; exit with a one-line reason if it
    cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"vconstore: cannot use data directory {path}: {exc}") from None
    return path


def display_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def enable_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )


class StorageHealth:
    """grpc.health.v1 in step with storage: NOT_SERVING for "" and each named
    service while `ping` raises StorageUnavailable."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[None]],
        service_names: Sequence[str],
        *,
        every: float,
    ) -> None:
        self.servicer = health.aio.HealthServicer()
        self._ping = ping
        self._names = ("", *service_names)
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def _status(self) -> int:
        try:
            await self._ping()
        except StorageUnavailable:
            return NOT_SERVING
        return SERVING

    async def set(self, name: str, status: int) -> None:
        await self.servicer.set(name, status)

    async def start(self, server: grpc.aio.Server) -> None:
        """Publish a first status before any call is accepted (grpc_health would
        otherwise answer SERVING for "" while storage has not been checked),
        bounded, so an unreachable MongoDB (whose ping waits for its server
        selection timeout) delays startup by at most FIRST_PROBE_SECONDS: the
        process starts NOT_SERVING and the probe flips it when storage answers."""
        try:
            status = await asyncio.wait_for(self._status(), FIRST_PROBE_SECONDS)
        except TimeoutError:
            status = NOT_SERVING
        await self._publish(status)
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        self._task = asyncio.create_task(self._probe(status))

    async def _publish(self, status: int) -> None:
        for name in self._names:
            await self.servicer.set(name, status)
        log.info("health", status=health_pb2.HealthCheckResponse.ServingStatus.Name(status))

    async def _probe(self, last: int) -> None:
        while True:
            await asyncio.sleep(self._every)
            status = await self._status()
            if status != last:
                await self._publish(status)
                last = status

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.servicer.enter_graceful_shutdown()


def stop_event() -> asyncio.Event:
    """Set on SIGTERM or SIGINT. Install it first thing: a signal during
    start-up then still ends in an orderly exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
