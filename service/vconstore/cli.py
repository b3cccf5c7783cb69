"""The `vconstore` command."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import structlog

from vconstore import __version__
from vconstore.auth.scopes import ALL_SCOPES
from vconstore.config import Settings
from vconstore.ledger.config import DEFAULT_ORIGIN
from vconstore.logging_setup import configure_logging

LEDGER_DEFAULT_PORT = 50052


def _storage_options(parser: argparse.ArgumentParser, *, default_port: int, what: str) -> None:
    """Flags `up` and `ledger serve` share; each also has a VCON_* variable."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, env VCON_HOST)")
    parser.add_argument(
        "--port",
        type=int,
        help=f"port (default {default_port}; 0 picks a free one; env VCON_PORT)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"where {what} (default ./data; env VCON_DATA_DIR)",
    )
    parser.add_argument(
        "--mongodb-uri",
        metavar="URI",
        help="use MongoDB instead of SQLite (env VCON_MONGODB_URI; prefer the "
        "variable when the URI holds a password, since command lines are visible to others)",
    )
    parser.add_argument(
        "--mongodb-database", help="MongoDB database (default vconstore; env VCON_MONGODB_DATABASE)"
    )
    parser.add_argument(
        "--log-level", help="debug, info, warning or error (default info; env VCON_LOG_LEVEL)"
    )


def _store_options(parser: argparse.ArgumentParser) -> None:
    """Flags of the store that `up` and `serve` share."""
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="refuse vCons that would be accepted with warnings (env VCON_STRICT)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (env VCON_METRICS_PORT; "
        "default: none)",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors end like every other refusal: one line starting
    `vconstore:` (subcommand parsers are made of this class too)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("vconstore").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"vconstore: {where}{message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vconstore", description="Store IETF vCons over gRPC.")
    parser.add_argument("--version", action="version", version=f"vconstore {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="run the service: the ledger, then the store (embedded SQLite, or MongoDB)",
        description="Run the vCon store and its transparency ledger locally. The ledger "
        "runs first, as its own process; stdout then carries 'ledger ready on HOST:PORT' "
        "'development key: vcs_live_sk_...' (org dev's all-scopes API key) and 'vconstore "
        "ready on HOST:PORT' once each accepts calls; logs go to stderr; "
        "SIGTERM drains and exits 0 (1 if the ledger died meanwhile). Every option can "
        "also be set by its VCON_* environment variable.",
        epilog="Settings with no flag, by environment only: VCON_SUPPORTED_EXTENSIONS, "
        "VCON_MAX_REQUEST_BYTES, VCON_MAX_VCON_BYTES, VCON_MAX_ARRAY_LENGTH, VCON_MAX_DEPTH, "
        "VCON_JWS_TRUST_ANCHORS, VCON_MAX_CONCURRENT_RPCS, "
        "VCON_SHUTDOWN_GRACE_SECONDS, VCON_HEALTH_PROBE_SECONDS, the VCON_MONGODB_* "
        "connection settings, the VCON_LEDGER_* ledger settings, and the store's side of "
        "the ledger: VCON_SCITT_WAIT_SECONDS, VCON_LEDGER_TIMEOUT_SECONDS, "
        "VCON_SCITT_RETRY_MAX_SECONDS, VCON_ISSUER_KEY, VCON_ISSUER_KEY_FILE, "
        "VCON_ISSUER_NAME, VCON_ORG_PSEUDONYM_KEY_FILE (see README.md, Configuration).",
    )
    _storage_options(
        up, default_port=50051, what="the SQLite files, keys and the ledger's files live"
    )
    up.add_argument(
        "--api-key",
        metavar="KEY",
        help="the development organisation's key (a vcs_live_sk_... key; env "
        "VCON_DEV_API_KEY, better: command lines are visible to others); default: generated "
        "on first start and kept in the data directory",
    )
    up.add_argument(
        "--ledger-port",
        type=int,
        help="the ledger's port (default: the store's port + 1; a free one with --port 0)",
    )
    _store_options(up)
    store = commands.add_parser(
        "serve",
        help="run the store alone, registering with a ledger that runs elsewhere",
        description="Run the vCon store only (for deployments where the ledger is its own "
        "service). Every create and delete is signed and registered with the ledger at "
        "--ledger-address; run without one only with --no-ledger (nothing is then signed "
        "or recorded). stdout carries 'vconstore ready on HOST:PORT' once it accepts calls; "
        "logs go to stderr; SIGTERM drains and exits 0.",
        epilog="Also by environment: VCON_ISSUER_KEY (PEM text), VCON_ISSUER_KEY_FILE, "
        "VCON_ISSUER_NAME, VCON_ORG_PSEUDONYM_KEY_FILE, VCON_SCITT_WAIT_SECONDS, "
        "VCON_LEDGER_TIMEOUT_SECONDS, VCON_SCITT_RETRY_MAX_SECONDS and the settings listed "
        "under `up` (see README.md, Configuration).",
    )
    _storage_options(store, default_port=50051, what="the SQLite file and keys live")
    where = store.add_mutually_exclusive_group()
    where.add_argument(
        "--ledger-address",
        metavar="HOST:PORT",
        help="the ledger (`vconstore ledger serve`) to register every operation with "
        "(env VCON_LEDGER_ADDRESS)",
    )
    store.add_argument(
        "--ledger-credential-file",
        type=Path,
        metavar="FILE",
        help="the secret shared with the ledger, on the file's first line "
        "(env VCON_LEDGER_CREDENTIAL_FILE, or VCON_LEDGER_CREDENTIAL for the text); "
        "required with --ledger-address",
    )
    where.add_argument(
        "--no-ledger",
        action="store_true",
        help="run without a ledger: operations are neither signed nor recorded "
        "(development and benchmarks)",
    )
    _store_options(store)
    ledger = commands.add_parser(
        "ledger", help="the transparency ledger", description="The transparency ledger."
    )
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    serve = ledger_commands.add_parser(
        "serve",
        help="run the ledger service",
        description="Run the transparency ledger (vcon.ledger.v1.LedgerService). Prints "
        "'ledger ready on HOST:PORT' on stdout once it accepts calls; logs go to stderr; "
        "SIGTERM drains and exits 0.",
        epilog="Also by environment: VCON_LEDGER_KEY (the signing key as PEM text), "
        "VCON_LEDGER_KEY_FILE, VCON_LEDGER_RETIRED_KEYS, VCON_LEDGER_TRUSTED_ISSUERS "
        "(NAME=PEM_FILE,...), VCON_LEDGER_ORIGIN, VCON_LEDGER_BATCH_MAX_STATEMENTS, "
        "VCON_LEDGER_BATCH_LINGER_MS, VCON_LEDGER_VERIFY_WORKERS, VCON_LEDGER_VERIFY_THREADS "
        "(see README.md).",
    )
    _storage_options(
        serve,
        default_port=LEDGER_DEFAULT_PORT,
        what="the ledger's SQLite file and generated key live",
    )
    serve.add_argument(
        "--credential-file",
        type=Path,
        metavar="FILE",
        help="the secret the store presents to register statements, on the file's first "
        "line (env VCON_LEDGER_CREDENTIAL_FILE, or VCON_LEDGER_CREDENTIAL for the text); "
        "required",
    )
    serve.add_argument(
        "--origin",
        help="the log's name in checkpoints and receipts "
        f"(default {DEFAULT_ORIGIN}; env VCON_LEDGER_ORIGIN)",
    )
    serve.add_argument(
        "--key-file",
        type=Path,
        help="ES256 (P-256) private key PEM that signs receipts "
        "(default: generated into the data directory)",
    )
    serve.add_argument(
        "--retired-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM_FILE",
        help="a key that signed earlier receipts, still published (repeatable)",
    )
    serve.add_argument(
        "--trusted-issuer",
        action="append",
        default=[],
        metavar="NAME=PEM_FILE",
        help="accept statements whose issuer is NAME signed by this P-256 key (repeatable)",
    )
    _admin_commands(commands)
    return parser


def _admin_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    admin = commands.add_parser(
        "admin",
        help="administration with direct access to storage",
        description="Administration with direct access to storage (no running service needed).",
    )
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create_key = admin_commands.add_parser(
        "create-key",
        help="create an API key for an organisation and print it",
        description="Create an API key for ORG directly in storage (the same storage options "
        "as `up`) and print it on stdout as one line. The key is shown only this once.",
    )
    create_key.add_argument("--org", required=True, help="the organisation, e.g. acme")
    create_key.add_argument(
        "--scopes",
        action="append",
        required=True,
        metavar="SCOPES",
        help=f"comma-separated, repeatable: {', '.join(ALL_SCOPES)}",
    )
    create_key.add_argument("--name", default="admin", help="a name for people (default admin)")
    create_key.add_argument(
        "--data-dir",
        type=Path,
        help="the store's data directory (default ./data; env VCON_DATA_DIR)",
    )
    create_key.add_argument(
        "--mongodb-uri",
        metavar="URI",
        help="MongoDB instead of SQLite (env VCON_MONGODB_URI: better for a URI with a password)",
    )
    create_key.add_argument(
        "--mongodb-database", help="MongoDB database (default vconstore; env VCON_MONGODB_DATABASE)"
    )
    create_key.add_argument(
        "--log-level", help="debug, info, warning or error (default error here)"
    )


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed (Linux, macOS): ~10-30% more calls/s for
    grpc.aio on the same cores; the stdlib loop otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=args.data_dir,
        strict=getattr(args, "strict", None),
        metrics_port=getattr(args, "metrics_port", None),
        ledger_address=getattr(args, "ledger_address", None),
        log_level=args.log_level,
        mongodb_uri=args.mongodb_uri,
        mongodb_database=args.mongodb_database,
        dev_api_key=getattr(args, "api_key", None),
        ledger_credential_file=getattr(args, "ledger_credential_file", None)
        or getattr(args, "credential_file", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except SystemExit as stop:
        # Every refusal ends with one line starting "vconstore:" (the README
        # promises it), whichever layer raised it.
        if isinstance(stop.code, str) and not stop.code.startswith("vconstore"):
            raise SystemExit(f"vconstore: {stop.code}") from None
        raise


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ledger" and args.port is None and not os.environ.get("VCON_PORT"):
        args.port = LEDGER_DEFAULT_PORT
    if args.command == "admin" and args.log_level is None:
        # Its stdout is the key; its stderr holds only the refusal, if any.
        args.log_level = "error"
    settings = _settings(args)
    configure_logging(settings.log_level)
    # `up` runs two processes logging to one stderr: say which wrote a line.
    structlog.contextvars.bind_contextvars(
        process={"ledger": "ledger", "admin": "admin"}.get(args.command, "store")
    )
    if args.command == "admin":
        from vconstore.admin import create_key_command

        run_event_loop(
            create_key_command(settings, org=args.org, scopes=args.scopes, name=args.name)
        )
    elif args.command == "up":
        from vconstore.up import up

        run_event_loop(up(settings, requested_ledger_port=args.ledger_port))
    elif args.command == "serve":
        from vconstore.up import serve

        if args.no_ledger:
            settings = replace(settings, ledger_address=None)
        elif settings.ledger_address is None:
            raise SystemExit(
                "vconstore: serve needs --ledger-address HOST:PORT (or VCON_LEDGER_ADDRESS), "
                "or --no-ledger to run without one"
            )
        run_event_loop(serve(settings))
    elif args.command == "ledger":
        from vconstore.ledger.config import LedgerSettings, parse_trusted_issuer
        from vconstore.ledger.server import serve_ledger
        from vconstore.parent import exit_with_parent

        exit_with_parent()
        ledger = LedgerSettings.from_env().with_overrides(
            origin=args.origin,
            key_file=args.key_file,
            retired_key_files=tuple(args.retired_key),
            trusted_issuers=tuple(parse_trusted_issuer(item) for item in args.trusted_issuer),
        )
        run_event_loop(serve_ledger(settings, ledger))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
