"""Prometheus metrics of the store process, served over HTTP when a metrics
port is configured (`--metrics-port`, VCON_METRICS_PORT).

Each server gets its own registry, so several servers in one process (tests)
never collide, and nothing here is global state.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

__all__ = ["MetricsEndpoint", "StoreMetrics"]


class StoreMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ledger_reachable = Gauge(
            "vconstore_ledger_reachable",
            "1 when the ledger answered the store's last call or health check, else 0",
            registry=self.registry,
        )
        self.scitt_pending = Gauge(
            "vconstore_scitt_pending",
            "Signed operations stored without a ledger receipt yet (as of the registrar's "
            "last pass)",
            registry=self.registry,
        )
        self.scitt_registered = Counter(
            "vconstore_scitt_registered",
            "Operations whose statement the ledger registered (receipts received)",
            registry=self.registry,
        )
        self.scitt_refused = Counter(
            "vconstore_scitt_refused",
            "Statements the ledger answered with a refusal (they stay pending and are retried)",
            registry=self.registry,
        )
        self.ledger_call_failures = Counter(
            "vconstore_ledger_call_failures",
            "RegisterStatements calls that got no answer (ledger down, timeout)",
            registry=self.registry,
        )


class MetricsEndpoint:
    """`/metrics` on host:port, served by prometheus-client's thread."""

    def __init__(self, metrics: StoreMetrics, host: str, port: int) -> None:
        try:
            self._server, self._thread = start_http_server(
                port, addr=host, registry=metrics.registry
            )
        except OSError as exc:
            raise SystemExit(f"vconstore: cannot serve metrics on {host}:{port}: {exc}") from None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        server: WSGIServer = self._server
        thread: threading.Thread = self._thread
        server.shutdown()
        server.server_close()
        thread.join()
