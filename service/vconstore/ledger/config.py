"""Settings of the ledger process that the store does not share, read from
VCON_LEDGER_* variables and overridable by `vconstore ledger serve` flags.
Host, port, data directory, log level and the MongoDB connection come from the
common Settings (config.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from vconstore.config import env_float, env_int

__all__ = ["LedgerSettings", "parse_trusted_issuer"]

DEFAULT_ORIGIN = "localhost/vconstore-ledger"
KEY_FILE = "ledger-key.pem"


def parse_trusted_issuer(text: str) -> tuple[str, Path]:
    """`NAME=PEM_FILE`: statements whose CWT iss is NAME must be signed by the
    P-256 key in PEM_FILE (a public key, or a private key whose public half is used)."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise SystemExit(f"a trusted issuer is NAME=PEM_FILE, got {text!r}")
    return name.strip(), Path(path.strip())


def _env_paths(name: str) -> tuple[Path, ...]:
    raw = os.environ.get(name, "")
    return tuple(Path(item.strip()) for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    # The log's identity: the checkpoint's origin line and key name, and the
    # receipts' issuer (CWT iss). Must be unique per log; set it in production
    # (e.g. "ledger.example.com/vcons").
    origin: str = DEFAULT_ORIGIN
    # ES256 signing key as PEM text (e.g. a Kubernetes secret in the environment).
    # repr=False: a private key must never reach a log line.
    key_pem: str | None = field(default=None, repr=False)
    # ES256 signing key file; when neither key_pem nor this is set, the key is
    # <data dir>/ledger-key.pem, generated on first start.
    key_file: Path | None = None
    # Keys that signed earlier receipts, still published so those verify.
    retired_key_files: tuple[Path, ...] = ()
    # (issuer name, PEM file) pairs whose statements are accepted.
    trusted_issuers: tuple[tuple[str, Path], ...] = ()
    # A batch closes at this many statements, or `batch_linger_ms` after its
    # first one, whichever comes first; one fsync and one signature per batch.
    batch_max_statements: int = 256
    batch_linger_ms: float = 2.0
    # Worker processes that parse statements and verify issuer signatures
    # (admission.py says why processes); 0: threads in the ledger process.
    verify_workers: int = 2
    # Threads doing that when verify_workers is 0.
    verify_threads: int = 2
    # One statement's bytes; a statement is small (~400 bytes) and holds no content.
    max_statement_bytes: int = 64 * 1024
    # Statements in one RegisterStatements call.
    max_statements_per_call: int = 1024

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin) or "+" in self.origin:
            raise SystemExit(
                f"ledger origin must be non-empty, without spaces or '+', got {self.origin!r}"
            )
        if self.verify_workers < 0:
            raise SystemExit("ledger verify_workers must not be negative")
        for name in (
            "batch_max_statements",
            "verify_threads",
            "max_statement_bytes",
            "max_statements_per_call",
        ):
            if getattr(self, name) < 1:
                raise SystemExit(f"ledger {name} must be positive")
        if self.batch_linger_ms < 0:
            raise SystemExit("ledger batch_linger_ms must not be negative")

    @classmethod
    def from_env(cls) -> LedgerSettings:
        defaults = cls()
        key_file = os.environ.get("VCON_LEDGER_KEY_FILE", "").strip()
        issuers = os.environ.get("VCON_LEDGER_TRUSTED_ISSUERS", "")
        return cls(
            origin=os.environ.get("VCON_LEDGER_ORIGIN", defaults.origin).strip(),
            key_pem=os.environ.get("VCON_LEDGER_KEY") or None,
            key_file=Path(key_file) if key_file else None,
            retired_key_files=_env_paths("VCON_LEDGER_RETIRED_KEYS"),
            trusted_issuers=tuple(
                parse_trusted_issuer(item) for item in issuers.split(",") if item.strip()
            ),
            batch_max_statements=env_int(
                "VCON_LEDGER_BATCH_MAX_STATEMENTS", defaults.batch_max_statements
            ),
            batch_linger_ms=env_float("VCON_LEDGER_BATCH_LINGER_MS", defaults.batch_linger_ms),
            verify_workers=env_int("VCON_LEDGER_VERIFY_WORKERS", defaults.verify_workers),
            verify_threads=env_int("VCON_LEDGER_VERIFY_THREADS", defaults.verify_threads),
        )

    def with_overrides(self, **changes: object) -> LedgerSettings:
        """Apply CLI flags that were given (None or an empty tuple: not given)."""
        given = {k: v for k, v in changes.items() if v is not None and v != ()}
        return replace(self, **given)  # type: ignore[arg-type]
