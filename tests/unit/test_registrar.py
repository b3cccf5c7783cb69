"""The registrar under failures a real ledger does not produce on demand: a
scripted ledger port (refusals, garbage, exceptions) over the in-memory
repository. The real ledger is exercised end to end in tests/e2e/test_scitt_outage.py."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from google.rpc import status_pb2

from tests.contract.records import ORG, make_record
from vconstore.metrics import StoreMetrics
from vconstore.ports import PendingRegistration, Receipt, ScittEntry
from vconstore.scitt.ledger_client import LedgerUnreachable, Refused
from vconstore.scitt.ledger_client import outcome_of as ledger_outcome
from vconstore.scitt.registrar import Registrar, RegistrarTiming
from vconstore.storage.memory import InMemoryVconRepository
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as ledger_pb

FAST = RegistrarTiming(
    batch_max=4, scan_every=0.02, retry_initial=0.01, retry_max=0.05, recovery_page=8
)


def entry(number: int) -> ScittEntry:
    statement = f"statement {number}".encode()
    return ScittEntry(
        entry_id="sha256:" + hashlib.sha256(b"\x00" + statement).hexdigest(),
        operation="register",
        statement=statement,
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=number),
    )


class ScriptedLedger:
    """Receipts are b"receipt:" + statement, except for what the test scripts."""

    def __init__(self) -> None:
        self.refuse: set[bytes] = set()
        self.fail_with: Exception | None = None
        self.sent: list[bytes] = []
        self.closed = False

    async def register(self, statements: Sequence[bytes]) -> list[bytes | Refused]:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent += statements
        return [
            Refused("PERMISSION_DENIED", "issuer not trusted")
            if statement in self.refuse
            else b"receipt:" + statement
            for statement in statements
        ]

    async def serving(self) -> bool:
        return self.fail_with is None

    async def close(self) -> None:
        self.closed = True


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    """Poll until the condition holds (fails after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def _report(reachable: bool) -> None:
    del reachable


async def stored(count: int) -> tuple[InMemoryVconRepository, list[PendingRegistration]]:
    repository = InMemoryVconRepository()
    await repository.open()
    pending = []
    for number in range(count):
        record = make_record()
        await repository.insert(record=record, scitt=entry(number))
        pending.append(PendingRegistration(org=ORG, uuid=record.uuid, entry=entry(number)))
    return repository, pending


async def no_pending(repository: InMemoryVconRepository) -> bool:
    return await repository.count_pending() == 0


async def test_refused_entries_do_not_hold_up_the_others() -> None:
    repository, pending = await stored(12)
    ledger = ScriptedLedger()
    # The four oldest, a whole batch, are refused (an issuer key not trusted).
    ledger.refuse = {item.entry.statement for item in pending[:4]}
    registrar = Registrar(
        repository, ledger, metrics=StoreMetrics(), on_reachability=_report, timing=FAST
    )
    await registrar.start()
    try:

        async def only_refused_left() -> bool:
            left = await repository.pending_registrations(limit=100)
            return {item.entry.entry_id for item in left} == {
                item.entry.entry_id for item in pending[:4]
            }

        await eventually(only_refused_left)
        # Fixed on the ledger's side: they go through on their own retry.
        ledger.refuse = set()
        await eventually(lambda: no_pending(repository))
        assert sorted(ledger.sent[-4:]) == sorted(item.entry.statement for item in pending[:4])
    finally:
        await registrar.stop()


async def test_a_failing_receipt_write_is_retried_not_lost() -> None:
    repository, _ = await stored(0)
    ledger = ScriptedLedger()
    failures = [RuntimeError("disk on fire")]
    real_store = repository.store_receipts

    async def store_receipts(*, receipts: Sequence[Receipt]) -> None:
        if failures:
            raise failures.pop()
        await real_store(receipts=receipts)

    repository.store_receipts = store_receipts  # type: ignore[method-assign]
    registrar = Registrar(
        repository, ledger, metrics=StoreMetrics(), on_reachability=_report, timing=FAST
    )
    await registrar.start()
    try:
        record = make_record()
        await repository.insert(record=record, scitt=entry(1))
        receipt = await registrar.receipt_for(
            PendingRegistration(org=ORG, uuid=record.uuid, entry=entry(1)), timeout=5
        )
        assert receipt == b"receipt:" + entry(1).statement
        await eventually(lambda: no_pending(repository))
        # Sent once: neither the failed write nor recovery sent it again.
        assert ledger.sent == [entry(1).statement]
    finally:
        await registrar.stop()


async def test_a_received_receipt_is_readable_before_it_is_written() -> None:
    repository, _ = await stored(0)
    gate = asyncio.Event()
    real_store = repository.store_receipts

    async def slow_store(*, receipts: Sequence[Receipt]) -> None:
        await gate.wait()
        await real_store(receipts=receipts)

    repository.store_receipts = slow_store  # type: ignore[method-assign]
    registrar = Registrar(
        repository, ScriptedLedger(), metrics=StoreMetrics(), on_reachability=_report, timing=FAST
    )
    await registrar.start()
    try:
        record = make_record()
        await repository.insert(record=record, scitt=entry(2))
        pending = PendingRegistration(org=ORG, uuid=record.uuid, entry=entry(2))
        receipt = await registrar.receipt_for(pending, timeout=5)
        assert receipt is not None
        assert (await repository.get(org=ORG, uuid=record.uuid)).scitt == entry(2)  # not yet
        assert registrar.stored_receipt(entry(2).entry_id) == receipt
        gate.set()
        await eventually(lambda: no_pending(repository))
        assert registrar.stored_receipt(entry(2).entry_id) is None
    finally:
        await registrar.stop()


@pytest.mark.parametrize(
    "failure", [LedgerUnreachable("UNAVAILABLE: down"), ValueError("a broken adapter")]
)
async def test_recovery_outlives_any_failure_of_the_ledger(failure: Exception) -> None:
    repository, _ = await stored(5)
    ledger = ScriptedLedger()
    ledger.fail_with = failure
    reports: list[bool] = []

    async def report(reachable: bool) -> None:
        reports.append(reachable)

    registrar = Registrar(
        repository,
        ledger,
        metrics=StoreMetrics(),
        on_reachability=report,
        timing=RegistrarTiming(
            scan_every=0.02, retry_initial=0.01, retry_max=0.05, probe_every=0.02
        ),
    )
    await registrar.start()
    try:
        assert reports == [False]
        assert not registrar.reachable
        assert await repository.count_pending() == 5
        ledger.fail_with = None
        await eventually(lambda: no_pending(repository))
        assert reports[-1] is True and registrar.reachable
        assert len(ledger.sent) == 5
    finally:
        await registrar.stop()
    assert ledger.closed


async def test_stop_answers_every_waiting_call_and_closes_the_ledger() -> None:
    repository, _ = await stored(0)
    never = asyncio.Event()

    class Hanging(ScriptedLedger):
        async def register(self, statements: Sequence[bytes]) -> list[bytes | Refused]:
            await never.wait()
            return []

    ledger = Hanging()
    registrar = Registrar(
        repository, ledger, metrics=StoreMetrics(), on_reachability=_report, timing=FAST
    )
    await registrar.start()
    record = make_record()
    await repository.insert(record=record, scitt=entry(3))
    waiting = asyncio.ensure_future(
        registrar.receipt_for(
            PendingRegistration(org=ORG, uuid=record.uuid, entry=entry(3)), timeout=30
        )
    )
    await asyncio.sleep(0)  # let the call queue its entry
    await registrar.stop()
    assert await asyncio.wait_for(waiting, 5) is None
    assert ledger.closed
    assert await repository.count_pending() == 1  # left for the next start


def _result(**fields: object) -> ledger_pb.RegistrationResult:
    return ledger_pb.RegistrationResult(**fields)  # type: ignore[arg-type]


def test_the_ledger_client_takes_only_receipts_and_refusals_as_answers() -> None:
    receipt = _result(registration=ledger_pb.Registration(receipt=b"\xd2receipt"))
    assert ledger_outcome(receipt) == b"\xd2receipt"
    refusal = _result(error=status_pb2.Status(code=7, message="issuer not trusted"))
    assert ledger_outcome(refusal) == Refused("PERMISSION_DENIED", "issuer not trusted")
    for broken in (
        _result(),  # neither
        _result(registration=ledger_pb.Registration()),  # no receipt
        _result(error=status_pb2.Status(code=0)),  # an "error" that is OK
    ):
        with pytest.raises(LedgerUnreachable):
            ledger_outcome(broken)
