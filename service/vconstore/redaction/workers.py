"""Where redactions run: in worker processes, so the ~2 ms of pure-Python
scanning each takes runs on another core than the event loop serving gRPC
(threads would not: the GIL), or in the event loop itself (workers=0; for
tests and single-core machines).

Workers are spawned (forking a process that runs gRPC's threads is unsafe),
never outlive the store (PR_SET_PDEATHSIG) and ignore the Ctrl-C that
reaches the whole process group: the store stops them itself. A worker that
dies is replaced and the redaction tried again (redacting has no side
effects)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

from vconstore.parent import die_with_parent

from .document import redact_document
from .policies import RedactionPolicy

__all__ = ["RedactionWorkers", "redacted_text"]

log = structlog.get_logger("vconstore.redaction")


def redacted_text(
    document: dict[str, Any], policy: RedactionPolicy, new_uuid: str, parent_uuid: str
) -> str:
    """The redacted vCon as the JSON text to store (what a worker returns)."""
    redacted = redact_document(document, policy, new_uuid=new_uuid, parent_uuid=parent_uuid)
    return json.dumps(redacted, ensure_ascii=False)


def _started(store_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(store_pid)


def _ready() -> bool:
    return True


class RedactionWorkers:
    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = self._new_pool() if workers > 0 else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_started,
            initargs=(os.getpid(),),
        )

    async def start(self) -> None:
        """Start the workers now rather than on the first redaction."""
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(self._pool, _ready) for _ in range(self._workers))
            )

    async def redact(
        self, document: dict[str, Any], policy: RedactionPolicy, *, new_uuid: str, parent_uuid: str
    ) -> str:
        pool = self._pool
        if pool is None:
            return redacted_text(document, policy, new_uuid, parent_uuid)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                pool, redacted_text, document, policy, new_uuid, parent_uuid
            )
        except BrokenProcessPool:
            if self._pool is pool:
                log.error("a redaction worker died; starting new workers")
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            assert self._pool is not None
            return await loop.run_in_executor(
                self._pool, redacted_text, document, policy, new_uuid, parent_uuid
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
