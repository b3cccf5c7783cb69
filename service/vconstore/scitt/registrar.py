"""Registers the store's signed statements with the ledger: the outbox's consumer.

Every operation's statement is already durable (stored in the operation's own
write) before the registrar sees it, so nothing here has to survive a crash:

* an RPC hands its fresh entry to `receipt_for`, which sends it with whatever
  else is waiting (one RegisterStatements call per batch, a few calls in
  flight) and waits a bounded time for the receipt;
* a recovery loop reads what storage still holds as pending (left by a
  timeout, a refusal, an unreachable ledger or a restart) and registers it,
  backing off while the ledger does not answer, and per entry while the
  ledger refuses that entry (so a refused entry never holds up the others);
* receipts are stored by one write per burst, off the calls' path; until that
  write lands, `stored_receipt` answers for them, so a read right after a
  REGISTERED answer sees REGISTERED too.

Exactly once: a retry sends the very bytes stored, and the ledger answers a
statement it already holds with its existing entry, so a statement sent twice
(a timeout, a crash between the ledger's answer and storing the receipt,
another replica's recovery) is still one entry in the log.

Every loop survives any exception (logged with its traceback, then retried
after a pause): an unexpected error must never leave entries pending for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from vconstore.domain.errors import StorageUnavailable
from vconstore.metrics import StoreMetrics
from vconstore.ports import PendingRegistration, Receipt, VconRepository
from vconstore.scitt.ledger_client import LedgerUnreachable, Refused

__all__ = ["LedgerPort", "Registrar", "RegistrarTiming"]

log = structlog.get_logger("vconstore.scitt")


class LedgerPort(Protocol):
    async def register(self, statements: Sequence[bytes]) -> list[bytes | Refused]:
        """One receipt or refusal per statement, in order; LedgerUnreachable
        when there is no well-formed answer."""
        ...

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
    # Backoff after a pass the ledger did not answer, and per refused entry:
    # from `retry_initial`, doubling to `retry_max`.
    retry_initial: float = 0.25
    retry_max: float = 10.0
    # Seconds between health checks of the ledger.
    probe_every: float = 5.0
    # Pending entries read from storage per recovery pass (plus those waiting
    # out a refusal, which the pass skips).
    recovery_page: int = 1024
    # Entries younger than this are left to the call that stored them (it is
    # still waiting for its receipt, here or on another replica).
    min_age: float = 0.0


@dataclass(slots=True)
class _Refusal:
    attempts: int
    retry_at: float


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
        # Entry ids being sent, or received and not yet stored: a recovery
        # pass leaves them alone. A count, since the call path and a recovery
        # pass may both hold one for a moment.
        self._in_flight: Counter[str] = Counter()
        # Receipts received and not yet stored, by entry id.
        self._unstored: dict[str, Receipt] = {}
        # Other uuids a receipt is stored for too (PendingRegistration.also).
        self._also: dict[str, tuple[str, ...]] = {}
        self._receipts_arrived = asyncio.Event()
        # Entries the ledger refused, waiting out their backoff.
        self._refusals: dict[str, _Refusal] = {}
        self._reachable: bool | None = None
        self._recover_now = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def reachable(self) -> bool:
        return bool(self._reachable)

    async def start(self) -> None:
        await self._set_reachable(await self._serving())
        self._loops = [
            asyncio.create_task(self._forever("send", self._send_loop), name="scitt-send"),
            asyncio.create_task(
                self._forever("recovery", self._recovery_loop), name="scitt-recovery"
            ),
            asyncio.create_task(self._forever("probe", self._probe_loop), name="scitt-probe"),
            asyncio.create_task(
                self._forever("store receipts", self._store_loop), name="scitt-store-receipts"
            ),
        ]

    async def stop(self) -> None:
        """Cancel everything; unfinished entries stay pending in storage."""
        tasks = [*self._loops, *self._tasks]
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("registrar task failed", error_type=type(outcome).__name__)
        self._loops = []
        for _, waiter in self._queue:
            if not waiter.done():
                waiter.set_result(None)
        self._queue.clear()
        if self._unstored:
            # Best effort: whatever is not stored now is registered again at
            # the next start, and the ledger answers with the same entries.
            try:
                await self._repository.store_receipts(receipts=list(self._unstored.values()))
            except Exception as error:  # stopping anyway
                log.warning("could not store receipts at stop", error_type=type(error).__name__)
            self._unstored.clear()
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
        self._in_flight[pending.entry.entry_id] += 1
        self._queued.set()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None

    def stored_receipt(self, entry_id: str) -> bytes | None:
        """A receipt received and not yet written to storage."""
        unstored = self._unstored.get(entry_id)
        return None if unstored is None else unstored.receipt

    # --- supervision -----------------------------------------------------------

    async def _forever(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `loop`; if it ever raises, log it and start it again after a pause."""
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("registrar loop failed; restarting it", loop=name)
                await asyncio.sleep(self._timing.retry_max)

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
        except Exception:
            # The entries stay pending in storage: recovery registers them.
            log.exception("registering a batch failed", size=len(batch))
        finally:
            self._slots.release()
            for pending, waiter in batch:
                if not waiter.done():
                    waiter.set_result(None)
                self._release(pending.entry.entry_id)

    def _release(self, entry_id: str) -> None:
        self._in_flight[entry_id] -= 1
        if self._in_flight[entry_id] <= 0:
            del self._in_flight[entry_id]

    async def _serving(self) -> bool:
        try:
            return await self._ledger.serving()
        except Exception:  # any failure to answer is "not serving"
            return False

    async def _register(self, batch: Sequence[PendingRegistration]) -> list[bytes | Refused] | None:
        """Send one batch, keep its receipts for storing; None if the ledger
        did not answer."""
        try:
            outcomes = await self._ledger.register([item.entry.statement for item in batch])
        except LedgerUnreachable as error:
            self._metrics.ledger_call_failures.inc()
            if self._reachable:
                log.warning("ledger unreachable; operations stay pending", reason=str(error))
            await self._set_reachable(False)
            return None
        await self._set_reachable(True)
        received: list[Receipt] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            entry_id = item.entry.entry_id
            if isinstance(outcome, bytes):
                self._refusals.pop(entry_id, None)
                received.append(
                    Receipt(org=item.org, uuid=item.uuid, entry_id=entry_id, receipt=outcome)
                )
            else:
                self._refused(entry_id, outcome)
        self._metrics.scitt_registered.inc(len(received))
        for item in batch:
            if item.also and item.entry.entry_id not in self._also:
                self._also[item.entry.entry_id] = item.also
        for receipt in received:
            if receipt.entry_id not in self._unstored:
                self._unstored[receipt.entry_id] = receipt
                # Held until stored, so no recovery pass sends it meanwhile.
                self._in_flight[receipt.entry_id] += 1
        if received:
            self._receipts_arrived.set()
        return outcomes

    def _refused(self, entry_id: str, refusal: Refused) -> None:
        self._metrics.scitt_refused.inc()
        previous = self._refusals.get(entry_id)
        attempts = 1 if previous is None else previous.attempts + 1
        delay = min(self._timing.retry_initial * 2 ** (attempts - 1), self._timing.retry_max)
        self._refusals[entry_id] = _Refusal(attempts, time.monotonic() + delay)
        if previous is None:
            # Once per entry, with ids and the ledger's reason only: no
            # content, no organisation.
            log.error(
                "ledger refused a statement; it stays pending and is retried",
                entry_id=entry_id,
                code=refusal.code,
                reason=refusal.message,
            )

    async def _store_loop(self) -> None:
        while True:
            # (After a restart of this loop, what is left is stored first.)
            if not self._unstored:
                await self._receipts_arrived.wait()
            self._receipts_arrived.clear()
            receipts = list(self._unstored.values())
            copies = [
                replace(receipt, uuid=uuid)
                for receipt in receipts
                for uuid in self._also.get(receipt.entry_id, ())
            ]
            try:
                await self._repository.store_receipts(receipts=[*receipts, *copies])
            except StorageUnavailable as error:
                # Kept: tried again with the next burst, or registered again
                # by a later pass if this process stops first.
                log.warning("could not store receipts", count=len(receipts), reason=str(error))
                await asyncio.sleep(self._timing.retry_initial)
                self._receipts_arrived.set()
                continue
            for receipt in receipts:
                if self._unstored.get(receipt.entry_id) is receipt:
                    del self._unstored[receipt.entry_id]
                    self._also.pop(receipt.entry_id, None)
                    self._release(receipt.entry_id)

    # --- recovery --------------------------------------------------------------

    async def _recovery_loop(self) -> None:
        delay = 0.0
        while True:
            try:
                answered = await self._recover_once()
            except StorageUnavailable as error:
                log.warning("cannot read pending registrations", reason=str(error))
                answered = False
            if answered:
                delay = 0.0
            else:
                delay = min(max(delay * 2, self._timing.retry_initial), self._timing.retry_max)
            # Woken early when the ledger is seen back (a health check or a call).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._recover_now.wait(), self._timing.scan_every if answered else delay
                )
            self._recover_now.clear()

    async def _recover_once(self) -> bool:
        """One pass over what storage holds as pending; False if the ledger did
        not answer (then the loop backs off). Entries the ledger refused are
        skipped until their own retry time, so they never hold up the rest."""
        now = time.monotonic()
        waiting = {e for e, r in self._refusals.items() if r.retry_at > now}
        youngest = datetime.now(UTC) - timedelta(seconds=self._timing.min_age)
        found = await self._repository.pending_registrations(
            limit=self._timing.recovery_page + len(waiting)
        )
        todo = [
            item
            for item in found
            if item.entry.entry_id not in self._in_flight
            and item.entry.entry_id not in waiting
            and item.entry.created_at <= youngest
        ]
        answered = True
        for start in range(0, len(todo), self._timing.batch_max):
            batch = todo[start : start + self._timing.batch_max]
            for item in batch:
                self._in_flight[item.entry.entry_id] += 1
            try:
                outcomes = await self._register(batch)
            finally:
                for item in batch:
                    self._release(item.entry.entry_id)
            if outcomes is None:
                answered = False
                break
        self._metrics.scitt_pending.set(await self._repository.count_pending())
        if answered and len(todo) >= self._timing.recovery_page:
            self._recover_now.set()  # more may follow: go on without pausing
        # Forget refusals of entries no longer pending (registered since).
        pending_ids = {item.entry.entry_id for item in found}
        if len(found) < self._timing.recovery_page + len(waiting):
            for entry_id in [e for e in self._refusals if e not in pending_ids]:
                del self._refusals[entry_id]
        return answered

    # --- reachability ----------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._timing.probe_every)
            await self._set_reachable(await self._serving())

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
