"""`vconstore up`: the whole service on one machine. The ledger runs first, as
a separate process talking real gRPC (`vconstore ledger serve`, the same entry
point as in production), then the store runs in this process.

stdout carries exactly three lines, in this order: the ledger's
`ledger ready on H:P` (relayed once the ledger accepts calls), `development
key: vcs_...` (org `dev`'s all-scopes key, see bootstrap.py) and `vconstore
ready on H:P`, so whoever waits for the last has the key. SIGTERM stops the
store (draining its calls) and then the ledger, and exits 0.

The store and the ledger share a credential made for each start, passed to
the ledger by environment, so only this store can register with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from vconstore.server import RunningServer

from vconstore.config import Settings
from vconstore.keyfiles import DEV_API_KEY_FILE, load_ledger_credential, write_issuer_public_key
from vconstore.parent import PARENT_PID_ENV
from vconstore.runtime import display_host, prepare_data_dir, stop_event

__all__ = ["LEDGER_DIR", "serve", "up"]

log = structlog.get_logger("vconstore.up")

LEDGER_DIR = "ledger"
_READY_PREFIX = "ledger ready on "
# How long the ledger may take to print its ready line; and, beyond the drain
# grace it shares with the store, to finish its last batches and exit.
LEDGER_START_SECONDS = 60.0
LEDGER_STOP_MARGIN_SECONDS = 15.0


@dataclass
class LedgerChild:
    process: asyncio.subprocess.Process
    address: str
    relay: asyncio.Task[None]

    async def stop(self, grace: float) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), grace + LEDGER_STOP_MARGIN_SECONDS)
            except TimeoutError:
                log.error("ledger did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self.relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.relay


def ledger_port(settings: Settings, requested: int | None) -> int:
    if requested is not None:
        if not 0 <= requested <= 65535:
            raise SystemExit(f"vconstore: ledger port must be between 0 and 65535, got {requested}")
        return requested
    if settings.port == 65535:
        raise SystemExit(
            "vconstore: the ledger's port (the store's + 1) would be 65536; give --ledger-port"
        )
    return 0 if settings.port == 0 else settings.port + 1


async def _relay_stdout(stream: asyncio.StreamReader) -> None:
    """After the ready line the ledger prints nothing on stdout; keep reading
    so it could never block on a full pipe."""
    while await stream.readline():
        pass


async def start_ledger(settings: Settings, port: int, issuer_public: Path) -> LedgerChild:
    env = dict(os.environ)
    # The ledger needs only the issuer's public half (passed as a file below).
    env.pop("VCON_ISSUER_KEY", None)
    env.pop("VCON_DEV_API_KEY", None)
    env.pop("VCON_LEDGER_CREDENTIAL_FILE", None)
    assert settings.ledger_credential is not None
    env["VCON_LEDGER_CREDENTIAL"] = settings.ledger_credential
    env[PARENT_PID_ENV] = str(os.getpid())
    if settings.mongodb_uri:
        # By environment, never argv: a URI may hold a password and command
        # lines are visible to every user of the machine.
        env["VCON_MONGODB_URI"] = settings.mongodb_uri
        env["VCON_MONGODB_DATABASE"] = settings.mongodb_database
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vconstore",
        "ledger",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(port),
        "--data-dir",
        str(settings.data_dir / LEDGER_DIR),
        "--trusted-issuer",
        f"{settings.issuer_name}={issuer_public}",
        "--log-level",
        settings.log_level,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), LEDGER_START_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SystemExit(
            f"vconstore: the ledger did not start within {LEDGER_START_SECONDS:.0f} s"
        ) from None
    text = line.decode(errors="replace").strip()
    if not text.startswith(_READY_PREFIX):
        code = await process.wait()
        raise SystemExit(f"vconstore: the ledger did not start (exit code {code}; see above)")
    return LedgerChild(
        process=process,
        address=text.removeprefix(_READY_PREFIX),
        relay=asyncio.create_task(_relay_stdout(process.stdout)),
    )


async def up(settings: Settings, *, requested_ledger_port: int | None) -> None:
    from vconstore.bootstrap import check_dev_key, seed_dev_key
    from vconstore.server import create_server

    stop = stop_event()
    check_dev_key(settings)
    prepare_data_dir(settings.data_dir)
    settings = replace(
        settings,
        ledger_credential=load_ledger_credential(settings) or secrets.token_urlsafe(32),
    )
    issuer_public = write_issuer_public_key(settings)
    ledger = await start_ledger(
        settings, ledger_port(settings, requested_ledger_port), issuer_public
    )
    print(f"{_READY_PREFIX}{ledger.address}", flush=True)
    try:
        running = await create_server(replace(settings, ledger_address=ledger.address))
    except BaseException:
        await ledger.stop(settings.shutdown_grace_seconds)
        raise
    try:
        dev_key = await seed_dev_key(settings, running.repository)
    except BaseException:
        await _drain(settings, running)
        await ledger.stop(settings.shutdown_grace_seconds)
        raise
    print(f"development key: {dev_key.key}", flush=True)
    _announce(settings, running.port, ledger.address, dev_key_shell=_dev_key_shell(settings))
    ledger_exit = asyncio.create_task(ledger.process.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({ledger_exit, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not stopped.done():
        # The store does not depend on the ledger to serve: keep serving, and
        # say at the end (exit status 1) that the ledger did not last.
        log.error("ledger exited", exit_code=ledger_exit.result())
        await stopped
    ledger_exit.cancel()
    if dev_key.pending is not None:
        dev_key.pending.cancel()
    await _drain(settings, running)
    await ledger.stop(settings.shutdown_grace_seconds)
    log.info("stopped")
    # 0 when it drained on our SIGTERM (or on Ctrl-C, which reaches it too);
    # anything else: it died while the store ran, or had to be killed.
    if ledger.process.returncode != 0:
        raise SystemExit(
            f"vconstore: the ledger ended with exit code {ledger.process.returncode}; "
            "see its log lines above"
        )


async def serve(settings: Settings) -> None:
    """`vconstore serve`: the store alone, registering with the ledger at
    settings.ledger_address (None: without a ledger)."""
    from vconstore.server import create_server

    stop = stop_event()
    if settings.ledger_address is None:
        log.warning("running without a ledger: operations are neither signed nor recorded")
    elif load_ledger_credential(settings) is None:
        raise SystemExit(
            "vconstore: registering with the ledger needs the credential it was given: "
            "--ledger-credential-file FILE, or VCON_LEDGER_CREDENTIAL(_FILE)"
        )
    else:
        # Where the ledger's operator finds the key to trust (--trusted-issuer).
        public = write_issuer_public_key(settings)
        log.info("statement issuer", name=settings.issuer_name, public_key=str(public))
    running = await create_server(settings)
    _announce(settings, running.port, settings.ledger_address)
    await stop.wait()
    await _drain(settings, running)


def _dev_key_shell(settings: Settings) -> str:
    """The development key as a shell expression, for the grpcurl hint on
    stderr: stderr is the log, and keys never appear in logs."""
    if settings.dev_api_key is not None:
        return "<the development key above>"
    return f"$(cat {shlex.quote(str(settings.data_dir / DEV_API_KEY_FILE))})"


def _announce(
    settings: Settings, port: int, ledger: str | None, *, dev_key_shell: str | None = None
) -> None:
    from vconstore.server import describe_storage, grpcurl_command

    address = f"{display_host(settings.host)}:{port}"
    log.info(
        "listening",
        address=address,
        ledger=ledger,
        data_dir=str(settings.data_dir),
        storage=describe_storage(settings),
    )
    print(f"vconstore ready on {address}", flush=True)
    grpcurl = grpcurl_command()
    print(f"try: {grpcurl} -plaintext {address} list", file=sys.stderr, flush=True)
    if dev_key_shell is not None:
        print(
            f'     {grpcurl} -plaintext -H "authorization: Bearer {dev_key_shell}" '
            f"-d '{{\"page_size\": 5}}' {address} vcon.v1.VconService/ListVcons",
            file=sys.stderr,
            flush=True,
        )


async def _drain(settings: Settings, running: RunningServer) -> None:
    log.info("draining", grace_seconds=settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
