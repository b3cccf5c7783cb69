"""Admission: the checks a statement passes before it is sequenced, its format
and its issuer's signature, off the event loop.

They run in worker PROCESSES by default. Measured with bench/bench_ledger.py on
the 2-core machine: in threads (cryptography releases the GIL while it
verifies, but parsing does not), the parsing and the GIL hand-offs between
verifier threads, the event loop and the SQLite writer cost as much as the
verification itself; separate processes keep the event loop's GIL for the
event loop. `workers=0` checks in threads instead (tests, tiny machines).
Workers receive statement bytes and answer a small tuple per statement; the
trusted keys reach each worker once, as PEM, when it starts.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from vconstore.domain.errors import DomainError
from vconstore.ledger.errors import StatementMalformed, StatementRejected
from vconstore.ledger.statements import IssuerTrust, parse_statement
from vconstore.parent import die_with_parent
from vconstore_client.transparency.keys import public_key_from_pem

__all__ = ["Admission", "Admitted"]

log = structlog.get_logger("vconstore.ledger.admission")


@dataclass(frozen=True, slots=True)
class Admitted:
    """A statement that may enter the log, with what the log indexes it by."""

    vcon_uuid: str
    operation: str


# One per worker process, installed by its initializer (keys do not pickle).
_trust: IssuerTrust | None = None

_Verdict = tuple[str, str, str]


def _install(issuers: list[tuple[str, bytes]], ledger_pid: int) -> None:
    """A worker's start: its trusted keys; and it must never outlive the
    ledger (a killed ledger would otherwise leave its workers running, since
    they hold both ends of their own pipes) nor die of the ledger's Ctrl-C,
    which reaches the whole process group: the ledger stops them itself."""
    global _trust
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(ledger_pid)
    _trust = IssuerTrust([(name, public_key_from_pem(pem)) for name, pem in issuers])


def _check(raws: Sequence[bytes], trust: IssuerTrust | None = None) -> list[_Verdict]:
    """("ok", vcon uuid, operation) or ("malformed" | "rejected", reason, "").
    In a worker process `trust` is the one installed at its start."""
    trust = trust or _trust
    assert trust is not None, "worker started without its trusted issuers"
    verdicts: list[_Verdict] = []
    for raw in raws:
        try:
            statement = parse_statement(raw)
            trust.verify(statement)
        except StatementMalformed as error:
            verdicts.append(("malformed", error.reason, ""))
        except StatementRejected as error:
            verdicts.append(("rejected", error.reason, ""))
        else:
            verdicts.append(("ok", statement.subject, statement.record.operation))
    return verdicts


def _outcome(verdict: _Verdict) -> Admitted | DomainError:
    kind, first, second = verdict
    if kind == "ok":
        return Admitted(vcon_uuid=first, operation=second)
    if kind == "malformed":
        return StatementMalformed(first)
    return StatementRejected(first)


def _pem(key: EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# Below this many statements per worker, one worker checks a call's statements
# alone: each part costs an inter-process round trip (~0.2-0.5 ms measured on
# 2 cores), more than checking 32 statements (~70 µs each) on one core.
MIN_STATEMENTS_PER_PART = 32


class Admission:
    def __init__(
        self, issuers: Sequence[tuple[str, EllipticCurvePublicKey]], *, workers: int, threads: int
    ) -> None:
        """`workers` processes (0: use `threads` threads in this process)."""
        pems = [(name, _pem(key)) for name, key in issuers]
        self._parallelism = workers or threads
        self._executor: Executor
        # In threads, this process's own trust (several ledgers may share a
        # process in tests); in processes, the one each worker installed.
        self._trust: IssuerTrust | None = None
        self._workers = workers
        self._pems = pems
        if workers > 0:
            self._executor = self._process_pool()
        else:
            self._trust = IssuerTrust(issuers)
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="ledger-verify")

    def _process_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs gRPC's threads is unsafe.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=(self._pems, os.getpid()),
        )

    async def start(self) -> None:
        """Start the workers now rather than on the first registration."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, _check, [], self._trust)
                for _ in range(self._parallelism)
            )
        )

    async def check(self, raws: Sequence[bytes]) -> list[Admitted | DomainError]:
        if not raws:
            return []
        # Split across the workers only when each part is worth a round trip
        # to a worker: a small call (a store's batch under light load) goes whole.
        chunk = max(-(-len(raws) // self._parallelism), MIN_STATEMENTS_PER_PART)
        parts = [raws[start : start + chunk] for start in range(0, len(raws), chunk)]
        executor = self._executor
        try:
            done = await self._run(executor, parts)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool is unusable for
            # good, so replace it and check these statements again (checking
            # has no side effects). Only the first caller to notice replaces
            # it; the others retry on the replacement.
            if self._executor is executor:
                log.error("a statement-checking worker died; starting new workers")
                self._executor = self._process_pool()
                executor.shutdown(wait=False, cancel_futures=True)
            done = await self._run(self._executor, parts)
        return [_outcome(verdict) for part in done for verdict in part]

    async def _run(self, executor: Executor, parts: list[Sequence[bytes]]) -> list[list[_Verdict]]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(
            *(loop.run_in_executor(executor, _check, part, self._trust) for part in parts)
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
