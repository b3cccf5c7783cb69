"""Settings, read from the environment (prefix VCON_) and overridable by CLI flags.

One documented place for every knob; README's "Configuration" table mirrors it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

MIB = 1024 * 1024
# protobuf parses messages at most 100 levels deep and each JSON level inside a
# Struct/Value costs 3, so deeper vCons would have no typed form.
MAX_TYPED_DEPTH = 32
# gRPC's message length options are C ints.
MAX_GRPC_MESSAGE_BYTES = 2**31 - 1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


# A create or delete holds its call (and a slot of VCON_MAX_CONCURRENT_RPCS)
# while it waits for its receipt: a minute is already generous.
MAX_SCITT_WAIT_SECONDS = 60.0


MIN_CREDENTIAL_CHARS = 16


def check_credential(text: str, *, what: str) -> str:
    """A shared secret: at least 16 visible ASCII characters, no spaces.
    SystemExit naming `what` (never the value) otherwise."""
    if len(text) < MIN_CREDENTIAL_CHARS or not all("!" <= char <= "~" for char in text):
        raise SystemExit(
            f"{what} must be at least {MIN_CREDENTIAL_CHARS} visible ASCII characters "
            "without spaces"
        )
    return text


def parse_address(text: str, *, what: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be a name, an IPv4 address or a [bracketed] IPv6 one)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise SystemExit(f"{what} must be HOST:PORT, got {text!r}")
    return host, int(port)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


def _env_optional_int(name: str) -> int | None:
    """None when unset: the MongoDB knobs then defer to the URI's own options."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    return env_int(name, 0)


def _env_optional_bool(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    return _env_bool(name, False)


def _env_optional_str(name: str) -> str | None:
    raw = os.environ.get(name)
    return raw.strip() if raw is not None and raw.strip() else None


def _env_optional_path(name: str) -> Path | None:
    raw = _env_optional_str(name)
    return Path(raw) if raw else None


def _env_list(name: str) -> frozenset[str]:
    raw = os.environ.get(name, "")
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    # Embedded SQLite database, page-token key and other local state live here.
    data_dir: Path = Path("./data")
    # Refuse what would otherwise be accepted with warnings, for every request.
    strict: bool = False
    # Extension names this server implements; any other `critical` /
    # `must_support` entry is refused. Empty: none are implemented yet.
    supported_extensions: frozenset[str] = field(default_factory=frozenset)
    # gRPC message size: larger requests get RESOURCE_EXHAUSTED from gRPC itself.
    max_request_bytes: int = 64 * MIB
    # A vCon's JSON text (UTF-8 bytes); larger ones get INVALID_ARGUMENT.
    max_vcon_bytes: int = 32 * MIB
    max_array_length: int = 100_000
    # At most MAX_TYPED_DEPTH.
    max_depth: int = MAX_TYPED_DEPTH
    # PEM bundle of CA certificates; when set, a signed vCon's x5c chain must
    # lead to one of them. Unset: the signature is checked against the x5c
    # leaf certificate only.
    jws_trust_anchors: Path | None = None
    # Seconds SIGTERM waits for in-flight calls before cancelling them.
    shutdown_grace_seconds: float = 10.0
    # Seconds between storage health probes.
    health_probe_seconds: float = 5.0
    log_level: str = "info"
    # VconService calls in flight; more are refused with RESOURCE_EXHAUSTED
    # (health checks are not counted, so probes answer under load). Bounds
    # memory: a request in flight holds its vCon several times over.
    max_concurrent_rpcs: int = 256
    # MongoDB instead of the embedded SQLite store when set. repr=False: it may
    # hold a password, and settings must be printable in logs.
    mongodb_uri: str | None = field(default=None, repr=False)
    mongodb_database: str = "vconstore"
    # The MongoDB knobs below are None unless set: then the URI's own option
    # applies if it has one, else DEFAULT_CLIENT_OPTIONS in storage/mongo/options.py.
    mongodb_server_selection_timeout_ms: int | None = None
    mongodb_connect_timeout_ms: int | None = None
    # 0: no timeout.
    mongodb_socket_timeout_ms: int | None = None
    mongodb_max_pool_size: int | None = None
    # "majority", a number of members, or a tag-set name; 0 is refused.
    mongodb_write_concern: str | None = None
    mongodb_journal: bool | None = None
    mongodb_write_timeout_ms: int | None = None
    # The ledger (host:port of `vconstore ledger serve`) that every operation is
    # registered with. None: no ledger at all — nothing is signed or recorded,
    # responses carry no `scitt` (`vconstore serve` requires --no-ledger for
    # that, so it is never an accident).
    ledger_address: str | None = None
    # Seconds a create or delete waits for its receipt before answering PENDING.
    scitt_wait_seconds: float = 2.0
    # Seconds a call to the ledger may take before it counts as unanswered.
    ledger_timeout_seconds: float = 5.0
    # Longest pause between retries of pending registrations while the ledger
    # does not answer.
    scitt_retry_max_seconds: float = 10.0
    # The store's statement-signing key: PEM text (e.g. from a Kubernetes
    # secret; repr=False, never logged), else this file, else
    # <data dir>/keys/issuer-key.pem generated on first start.
    issuer_key_pem: str | None = field(default=None, repr=False)
    issuer_key_file: Path | None = None
    # The statements' issuer name (CWT iss); the ledger trusts the key under it.
    issuer_name: str = "vconstore"
    # HMAC key of the organisation pseudonyms in statements; default
    # <data dir>/keys/org-pseudonym.key, generated on first start. Replicas
    # writing to one ledger must share it.
    org_pseudonym_key_file: Path | None = None
    # Serve Prometheus metrics on this port (0: a free one); None: no endpoint.
    metrics_port: int | None = None
    # The secret the store presents to the ledger's register RPCs, and the
    # ledger demands there: this text (repr=False, never logged), else the
    # first line of this file. `vconstore up` makes one for each start.
    ledger_credential: str | None = field(default=None, repr=False)
    ledger_credential_file: Path | None = None
    # JSON file of redaction policies added to (or replacing) the built-in
    # pii-default and pii-strict.
    redaction_policies_file: Path | None = None
    # Processes redacting (the scanning is CPU-bound Python: in processes it
    # runs beside the event loop, not under its GIL); 0: in the event loop.
    # Two, even on two cores: redactions then finish in pairs and the store's
    # writes and ledger calls batch better (bulk +10-15%, bench_redaction).
    redaction_workers: int = 2
    # Larger vCons are not redacted (INVALID_ARGUMENT VCON_TOO_LARGE_TO_REDACT).
    redaction_max_bytes: int = 4 * MIB
    # `vconstore up` only: the development organisation's key (a
    # vcs_live_sk_... key); unset, one is generated and kept in the data dir.
    dev_api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # 0 asks for a free port; beyond 65535 the operating system would
        # silently wrap the number around.
        if not 0 <= self.port <= 65535:
            raise SystemExit(f"port must be between 0 and 65535, got {self.port}")
        if not 1 <= self.max_depth <= MAX_TYPED_DEPTH:
            raise SystemExit(
                f"max depth must be between 1 and {MAX_TYPED_DEPTH}, got {self.max_depth}"
            )
        for name in (
            "max_request_bytes",
            "max_vcon_bytes",
            "max_array_length",
            "max_concurrent_rpcs",
            "redaction_max_bytes",
        ):
            if getattr(self, name) < 1:
                raise SystemExit(f"{name} must be positive")
        if self.max_request_bytes > MAX_GRPC_MESSAGE_BYTES:
            raise SystemExit(f"max_request_bytes must be at most {MAX_GRPC_MESSAGE_BYTES} (2 GiB)")
        if self.shutdown_grace_seconds < 0 or self.health_probe_seconds <= 0:
            raise SystemExit(
                "shutdown_grace_seconds must not be negative and health_probe_seconds "
                "must be positive"
            )
        if self.log_level.upper() not in LOG_LEVELS:
            raise SystemExit(
                f"log level must be one of {', '.join(LOG_LEVELS).lower()}, got {self.log_level!r}"
            )
        for name in (
            "mongodb_server_selection_timeout_ms",
            "mongodb_connect_timeout_ms",
            "mongodb_socket_timeout_ms",
            "mongodb_max_pool_size",
            "mongodb_write_timeout_ms",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise SystemExit(f"{name} must not be negative")
        # Unacknowledged writes (w=0) could neither report a duplicate uuid nor
        # confirm that a delete found its vCon.
        w = self.mongodb_write_concern
        if w is not None and w.strip() in ("", "0"):
            raise SystemExit("mongodb_write_concern must acknowledge writes (not 0)")
        if not self.mongodb_database:
            raise SystemExit("mongodb_database must not be empty")
        for name, low, high in (
            ("scitt_wait_seconds", 0.0, MAX_SCITT_WAIT_SECONDS),
            ("ledger_timeout_seconds", 0.001, 600.0),
            ("scitt_retry_max_seconds", 0.001, 3600.0),
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise SystemExit(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        if (
            not 1 <= len(self.issuer_name) <= 256
            or not self.issuer_name.isprintable()
            or "=" in self.issuer_name
        ):
            raise SystemExit(
                "issuer_name must be 1 to 256 printable characters without '=', "
                f"got {self.issuer_name[:300]!r}"
            )
        if self.ledger_address is not None:
            parse_address(self.ledger_address, what="ledger address")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise SystemExit(f"metrics port must be between 0 and 65535, got {self.metrics_port}")
        if self.metrics_port is not None and self.metrics_port == self.port != 0:
            raise SystemExit("the metrics port must differ from the gRPC port")
        if not 0 <= self.redaction_workers <= 64:
            raise SystemExit(
                f"redaction workers must be between 0 and 64, got {self.redaction_workers}"
            )
        if self.ledger_credential is not None:
            check_credential(self.ledger_credential, what="VCON_LEDGER_CREDENTIAL")

    @classmethod
    def from_env(cls) -> Settings:
        legacy_org = os.environ.get("VCON_DEFAULT_ORG", "").strip()
        if legacy_org not in ("", "dev"):
            # Its vCons would silently become unreachable: API keys decide the
            # organisation now, and stored vCons without one belong to `dev`.
            raise SystemExit(
                f"VCON_DEFAULT_ORG is no longer read (API keys decide the organisation); "
                f"vCons stored under {legacy_org!r} need moving to their organisation first"
            )
        anchors = os.environ.get("VCON_JWS_TRUST_ANCHORS")
        # With slots=True the class attributes are slot descriptors, not the
        # defaults: read the defaults from an instance.
        defaults = cls()
        return cls(
            host=os.environ.get("VCON_HOST", defaults.host),
            port=env_int("VCON_PORT", defaults.port),
            data_dir=Path(os.environ.get("VCON_DATA_DIR", str(defaults.data_dir))),
            strict=_env_bool("VCON_STRICT", defaults.strict),
            supported_extensions=_env_list("VCON_SUPPORTED_EXTENSIONS"),
            max_request_bytes=env_int("VCON_MAX_REQUEST_BYTES", defaults.max_request_bytes),
            max_vcon_bytes=env_int("VCON_MAX_VCON_BYTES", defaults.max_vcon_bytes),
            max_array_length=env_int("VCON_MAX_ARRAY_LENGTH", defaults.max_array_length),
            max_depth=env_int("VCON_MAX_DEPTH", defaults.max_depth),
            jws_trust_anchors=Path(anchors) if anchors else None,
            shutdown_grace_seconds=env_float(
                "VCON_SHUTDOWN_GRACE_SECONDS", defaults.shutdown_grace_seconds
            ),
            health_probe_seconds=env_float(
                "VCON_HEALTH_PROBE_SECONDS", defaults.health_probe_seconds
            ),
            log_level=os.environ.get("VCON_LOG_LEVEL", defaults.log_level),
            max_concurrent_rpcs=env_int("VCON_MAX_CONCURRENT_RPCS", defaults.max_concurrent_rpcs),
            mongodb_uri=_env_optional_str("VCON_MONGODB_URI"),
            mongodb_database=_env_optional_str("VCON_MONGODB_DATABASE")
            or defaults.mongodb_database,
            mongodb_server_selection_timeout_ms=_env_optional_int(
                "VCON_MONGODB_SERVER_SELECTION_TIMEOUT_MS"
            ),
            mongodb_connect_timeout_ms=_env_optional_int("VCON_MONGODB_CONNECT_TIMEOUT_MS"),
            mongodb_socket_timeout_ms=_env_optional_int("VCON_MONGODB_SOCKET_TIMEOUT_MS"),
            mongodb_max_pool_size=_env_optional_int("VCON_MONGODB_MAX_POOL_SIZE"),
            mongodb_write_concern=_env_optional_str("VCON_MONGODB_WRITE_CONCERN"),
            mongodb_journal=_env_optional_bool("VCON_MONGODB_JOURNAL"),
            mongodb_write_timeout_ms=_env_optional_int("VCON_MONGODB_WRITE_TIMEOUT_MS"),
            ledger_address=_env_optional_str("VCON_LEDGER_ADDRESS"),
            scitt_wait_seconds=env_float("VCON_SCITT_WAIT_SECONDS", defaults.scitt_wait_seconds),
            ledger_timeout_seconds=env_float(
                "VCON_LEDGER_TIMEOUT_SECONDS", defaults.ledger_timeout_seconds
            ),
            scitt_retry_max_seconds=env_float(
                "VCON_SCITT_RETRY_MAX_SECONDS", defaults.scitt_retry_max_seconds
            ),
            issuer_key_pem=os.environ.get("VCON_ISSUER_KEY") or None,
            issuer_key_file=_env_optional_path("VCON_ISSUER_KEY_FILE"),
            issuer_name=_env_optional_str("VCON_ISSUER_NAME") or defaults.issuer_name,
            org_pseudonym_key_file=_env_optional_path("VCON_ORG_PSEUDONYM_KEY_FILE"),
            metrics_port=_env_optional_int("VCON_METRICS_PORT"),
            ledger_credential=os.environ.get("VCON_LEDGER_CREDENTIAL") or None,
            ledger_credential_file=_env_optional_path("VCON_LEDGER_CREDENTIAL_FILE"),
            dev_api_key=_env_optional_str("VCON_DEV_API_KEY"),
            redaction_policies_file=_env_optional_path("VCON_REDACTION_POLICIES_FILE"),
            redaction_workers=env_int("VCON_REDACTION_WORKERS", defaults.redaction_workers),
            redaction_max_bytes=env_int("VCON_REDACTION_MAX_BYTES", defaults.redaction_max_bytes),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Apply CLI flags that were given (None means "not given")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
