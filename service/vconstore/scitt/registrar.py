"""Registers the store's signed statements with the ledger: the outbox's consumer.

Every operation's statement is already durable (stored in the operation's own
write) before the registrar sees it, so nothing here has to survive a crash:

* an RPC hands its fresh entry to `receipt_for`, which sends it with whatever
  else is waiting (one RegisterStatements call per batch, a few calls in
  flight) and waits a bounded time for the receipt;
* a recovery loop reads what storage still holds as pending (left by a
  timeout, a refusal, an unreachable ledger or a restart) and registers it,
  backing off while the ledger does not answer.

Exactly once: a retry sends the very bytes stored, and the ledger answers a
statement it already holds with its existing entry, so a statement sent twice
(a timeout, a crash between the ledger's answer and storing the receipt) is
still one entry in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from vconstore.domain.errors import StorageUnavailable
from vconstore.metrics import StoreMetrics
from vconstore.ports import PendingRegistration, Receipt, VconRepository
from vconstore.scitt.ledger_client import LedgerUnreachable, Refused

__all__ = ["LedgerPort", "Registrar", "RegistrarTiming"]

log = structlog.get_logger("vconstore.scitt")


class LedgerPort(Protocol):
    async def register(self, statements: Sequence[bytes]) -> list[bytes | Refused]: ...

    async def serving(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RegistrarTiming:
    # Most statements in one RegisterStatements call.
    batch_max: int = 256
    # Calls in flight at once; statements that arrive meanwhile form the next batch.
    calls_in_flight: int = 4
    # Seconds between looks at storage for pending entries while nothing failed.
    scan_every: float = 2.0
    # Backoff after a failed pass: from `retry_initial`, doubling to `retry_max`.
    retry_initial: float = 0.25
    retry_max: float = 10.0
    # Seconds between health checks of the ledger.
    probe_every: float = 5.0
    # Pending entries read from storage per recovery pass.
    recovery_page: int = 1024


_Waiter = tuple[PendingRegistration, "asyncio.Future[bytes | None]"]


class Registrar:
    """Args:
    repository: where the entries are (pending ones are read, receipts stored).
    ledger: the ledger client.
    metrics: reachability, pending and outcome counters.
    on_reachability: called with True or False whenever that changes (the
        health service's ledger status).
    """

    def __init__(
        self,
        repository: VconRepository,
        ledger: LedgerPort,
        *,
        metrics: StoreMetrics,
        on_reachability: Callable[[bool], Awaitable[None]],
        timing: RegistrarTiming = RegistrarTiming(),
    ) -> None:
        self._repository = repository
        self._ledger = ledger
        self._metrics = metrics
        self._on_reachability = on_reachability
        self._timing = timing
        self._queue: list[_Waiter] = []
        self._queued = asyncio.Event()
        self._slots = asyncio.Semaphore(timing.calls_in_flight)
        # Entry ids being sent by an RPC's batch: a recovery pass leaves them alone.
        self._in_flight: set[str] = set()
        self._unstored_ids: set[str] = set()
        # Refusals are logged once per entry, not once per retry.
        self._reported: set[str] = set()
        self._reachable: bool | None = None
        self._recover_now = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        # Receipts received and not yet stored: one write takes all there are,
        # off the path of the calls (their answers need only the receipt).
        self._unstored: list[Receipt] = []
        self._receipts_arrived = asyncio.Event()

    @property
    def reachable(self) -> bool:
        return bool(self._reachable)

    async def start(self) -> None:
        await self._set_reachable(await self._ledger.serving())
        self._loops = [
            asyncio.create_task(self._send_loop(), name="scitt-send"),
            asyncio.create_task(self._recovery_loop(), name="scitt-recovery"),
            asyncio.create_task(self._probe_loop(), name="scitt-probe"),
            asyncio.create_task(self._store_loop(), name="scitt-store-receipts"),
        ]

    async def stop(self) -> None:
        """Cancel everything; unfinished entries stay pending in storage."""
        for task in (*self._loops, *self._tasks):
            task.cancel()
        for task in (*self._loops, *self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        for _, waiter in self._queue:
            if not waiter.done():
                waiter.set_result(None)
        self._queue.clear()
        if self._unstored:
            # Best effort: whatever is not stored now is registered again at
            # the next start, and the ledger answers with the same entries.
            with contextlib.suppress(StorageUnavailable):
                await self._repository.store_receipts(receipts=self._unstored)
            self._unstored = []
        await self._ledger.close()

    async def receipt_for(self, pending: PendingRegistration, *, timeout: float) -> bytes | None:
        """The receipt of a just-stored entry, or None if it is not there within
        `timeout` seconds (the entry stays pending and is registered later)."""
        if not self._reachable or timeout <= 0:
            # The recovery loop owns everything while the ledger is away:
            # waiting here would only delay the answer.
            return None
        waiter: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._queue.append((pending, waiter))
        self._in_flight.add(pending.entry.entry_id)
        self._queued.set()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None

    # --- sending ---------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            await self._queued.wait()
            await self._slots.acquire()
            self._queued.clear()
            batch = self._queue[: self._timing.batch_max]
            del self._queue[: self._timing.batch_max]
            if self._queue:
                self._queued.set()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Waiter]) -> None:
        try:
            outcomes = await self._register([pending for pending, _ in batch])
            for (_, waiter), outcome in zip(batch, outcomes or (), strict=False):
                if not waiter.done():
                    waiter.set_result(outcome if isinstance(outcome, bytes) else None)
        finally:
            self._slots.release()
            for pending, waiter in batch:
                if not waiter.done():
                    waiter.set_result(None)
                if pending.entry.entry_id not in self._unstored_ids:
                    self._in_flight.discard(pending.entry.entry_id)

    async def _register(self, batch: Sequence[PendingRegistration]) -> list[bytes | Refused] | None:
        """Send one batch and store its receipts; None if the ledger did not answer."""
        try:
            outcomes = await self._ledger.register([item.entry.statement for item in batch])
        except LedgerUnreachable as error:
            self._metrics.ledger_call_failures.inc()
            if self._reachable:
                log.warning("ledger unreachable; operations stay pending", reason=str(error))
            await self._set_reachable(False)
            return None
        await self._set_reachable(True)
        receipts: list[Receipt] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, bytes):
                receipts.append(
                    Receipt(
                        org=item.org,
                        uuid=item.uuid,
                        entry_id=item.entry.entry_id,
                        receipt=outcome,
                    )
                )
            else:
                self._metrics.scitt_refused.inc()
                if item.entry.entry_id not in self._reported:
                    self._reported.add(item.entry.entry_id)
                    # Ids and the ledger's reason only: no content, no organisation.
                    log.error(
                        "ledger refused a statement; it stays pending and is retried",
                        entry_id=item.entry.entry_id,
                        code=outcome.code,
                        reason=outcome.message,
                    )
        self._metrics.scitt_registered.inc(len(receipts))
        if receipts:
            self._unstored += receipts
            self._unstored_ids.update(receipt.entry_id for receipt in receipts)
            self._receipts_arrived.set()
        return outcomes

    async def _store_loop(self) -> None:
        while True:
            await self._receipts_arrived.wait()
            self._receipts_arrived.clear()
            receipts, self._unstored = self._unstored, []
            try:
                await self._repository.store_receipts(receipts=receipts)
            except StorageUnavailable as error:
                # Still pending in storage: a later pass registers them again
                # and the ledger answers with the same entries and receipts.
                log.warning("could not store receipts", count=len(receipts), reason=str(error))
            finally:
                for receipt in receipts:
                    self._unstored_ids.discard(receipt.entry_id)
                    self._in_flight.discard(receipt.entry_id)

    # --- recovery --------------------------------------------------------------

    async def _recovery_loop(self) -> None:
        delay = 0.0
        while True:
            try:
                settled = await self._recover_once()
            except StorageUnavailable as error:
                log.warning("cannot read pending registrations", reason=str(error))
                settled = False
            if settled:
                delay = 0.0
            else:
                delay = min(max(delay * 2, self._timing.retry_initial), self._timing.retry_max)
            # Woken early when the ledger is seen back (a health check or a call).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._recover_now.wait(), delay if not settled else self._timing.scan_every
                )
            self._recover_now.clear()

    async def _recover_once(self) -> bool:
        """One pass over what storage holds as pending; False if any of it
        could not be registered (then the loop backs off)."""
        while True:
            found = await self._repository.pending_registrations(limit=self._timing.recovery_page)
            self._metrics.scitt_pending.set(await self._repository.count_pending())
            todo = [item for item in found if item.entry.entry_id not in self._in_flight]
            if not todo:
                return True
            for start in range(0, len(todo), self._timing.batch_max):
                batch = todo[start : start + self._timing.batch_max]
                ids = {item.entry.entry_id for item in batch}
                self._in_flight |= ids
                try:
                    outcomes = await self._register(batch)
                finally:
                    # Receipts waiting for their write stay claimed until stored.
                    self._in_flight -= ids - self._unstored_ids
                if outcomes is None or any(isinstance(o, Refused) for o in outcomes):
                    self._metrics.scitt_pending.set(await self._repository.count_pending())
                    return False
            if len(found) < self._timing.recovery_page:
                self._metrics.scitt_pending.set(await self._repository.count_pending())
                return True

    # --- reachability ----------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._timing.probe_every)
            await self._set_reachable(await self._ledger.serving())

    async def _set_reachable(self, reachable: bool) -> None:
        if reachable == self._reachable:
            return
        was = self._reachable
        self._reachable = reachable
        self._metrics.ledger_reachable.set(1 if reachable else 0)
        if reachable and was is not None:
            log.info("ledger reachable again")
            self._recover_now.set()
        await self._on_reachability(reachable)
