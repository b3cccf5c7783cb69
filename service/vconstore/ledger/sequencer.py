"""The sequencer: the log's only writer.

Verified statements queue here. A batch (up to `max_batch`, or whatever has
arrived `linger` seconds after its first statement) gets consecutive indices,
its new Merkle nodes and ONE tree-head signature (receipts and checkpoint),
and is appended to storage in one durable write. Only then are the callers'
futures resolved, each with a receipt at the batch's tree size, so no receipt
is ever released for an entry that a crash could still lose (RFC 9943:
never before registration).

The right edge of the tree (a CompactRange) stays in memory, so appending
needs no reads, and a batch's proofs are built from it and the batch's own
nodes. Verification happens before statements get here: nothing slow runs on
the critical path but the one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from vconstore.domain.errors import StorageUnavailable
from vconstore.ledger.admission import Admitted
from vconstore.ledger.checkpoint import signed_checkpoint
from vconstore.ledger.merkle import CompactRange, inclusion_plan
from vconstore.ledger.ports import AppendBatch, LeafRecord, LedgerRepository, NodeKey, TreeHead
from vconstore.ledger.receipts import ReceiptMaker, make_receipt, sign_tree_head
from vconstore.ledger.signing import SigningKey

__all__ = ["LogCorrupted", "Registration", "Sequencer", "receipt_for"]

log = structlog.get_logger("vconstore.ledger.sequencer")


@dataclass(frozen=True, slots=True)
class Registration:
    """An entry and a receipt proving it is in the tree of `tree_size`."""

    leaf: LeafRecord
    receipt: bytes
    tree_size: int
    already_registered: bool = False


class LogCorrupted(RuntimeError):
    """Stored nodes do not hash to the stored root: refuse to extend the log."""


@dataclass(slots=True)
class _Pending:
    leaf_hash: bytes
    raw: bytes
    admitted: Admitted
    # Resolves to a Registration, or to the LeafRecord of an entry that was
    # already in storage (the caller builds its receipt through the read path).
    future: asyncio.Future[Registration | LeafRecord]


_STOP: Final = object()
# Retrying storage that was unreachable at start-up.
_RETRY_FIRST_SECONDS = 0.25
_RETRY_MAX_SECONDS = 5.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def receipt_for(head: TreeHead, index: int, nodes: dict[NodeKey, bytes]) -> bytes:
    """The receipt of leaf `index` at `head`; `nodes` must hold the plan's keys."""
    plan = inclusion_plan(index, head.size)
    return make_receipt(
        head.receipt_protected,
        head.receipt_signature,
        tree_size=head.size,
        leaf_index=index,
        path=plan.assemble(nodes),
    )


class Sequencer:
    def __init__(
        self,
        repository: LedgerRepository,
        key: SigningKey,
        *,
        origin: str,
        max_batch: int = 256,
        linger: float = 0.002,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._repository = repository
        self._key = key
        self._origin = origin
        self._max_batch = max_batch
        self._linger = linger
        self._clock = clock
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue()
        self._in_flight: dict[bytes, _Pending] = {}
        self._range = CompactRange.empty()
        self._head: TreeHead | None = None
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._loaded = False
        # Set when the tree could not be loaded for a reason other than
        # unreachable storage (e.g. LogCorrupted): the process must end.
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Whether the tree has been loaded from storage (it may be unreachable at start)."""
        return self._loaded

    @property
    def head(self) -> TreeHead | None:
        """The latest durable, signed tree head (None while the log is empty)."""
        self._require_ready()
        return self._head

    @property
    def size(self) -> int:
        self._require_ready()
        return self._head.size if self._head is not None else 0

    def _require_ready(self) -> None:
        if self.failure is not None:
            raise StorageUnavailable(f"the ledger cannot load its tree: {self.failure}")
        if not self._loaded:
            raise StorageUnavailable("the ledger's storage has not been reachable since start-up")

    async def start(self) -> None:
        """Resume the tree where storage left it, then start sequencing. If
        storage cannot be reached yet, keep trying in the background (calls
        answer UNAVAILABLE meanwhile); a tree that does not hash to its stored
        root raises LogCorrupted here."""
        try:
            await self._load()
        except StorageUnavailable:
            log.warning("ledger storage unreachable at start; retrying in the background")
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="ledger-sequencer")

    async def stop(self) -> None:
        """Sequence everything queued so far, then stop."""
        if self._task is None:
            return
        self._accepting = False
        if self._loaded:
            self._queue.put_nowait(_STOP)
        else:
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # already reported through `failure`
            log.error("sequencer ended with an error", error_type=type(exc).__name__)
        self._task = None

    def pending(self, leaf_hash: bytes) -> asyncio.Future[Registration | LeafRecord] | None:
        """The future of a statement already queued or being sequenced."""
        item = self._in_flight.get(leaf_hash)
        return item.future if item is not None else None

    def submit(
        self, leaf_hash: bytes, raw: bytes, admitted: Admitted
    ) -> tuple[asyncio.Future[Registration | LeafRecord], bool]:
        """Queue a verified statement. Returns its future and whether the same
        statement was already queued (then both callers share one entry)."""
        existing = self._in_flight.get(leaf_hash)
        if existing is not None:
            return existing.future, True
        self._require_ready()
        if not self._accepting:
            raise StorageUnavailable("the ledger is shutting down")
        item = _Pending(leaf_hash, raw, admitted, asyncio.get_running_loop().create_future())
        self._in_flight[leaf_hash] = item
        self._queue.put_nowait(item)
        return item.future, False

    # --- the loop -------------------------------------------------------------

    async def _load(self) -> None:
        head = await self._repository.latest_head()
        if head is None:
            self._range, self._head, self._loaded = CompactRange.empty(), None, True
            return
        keys = CompactRange.keys_for(head.size)
        nodes = await self._repository.nodes(keys)
        if len(nodes) != len(keys):
            raise LogCorrupted(f"the stored tree of size {head.size} lacks right-edge nodes")
        tree = CompactRange.from_nodes(head.size, nodes)
        if tree.root() != head.root:
            raise LogCorrupted(f"stored nodes do not hash to the root of size {head.size}")
        self._range, self._head, self._loaded = tree, head, True

    async def _load_until_ready(self) -> bool:
        delay = _RETRY_FIRST_SECONDS
        while not self._loaded:
            try:
                await self._load()
            except StorageUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SECONDS)
            except Exception as exc:
                log.error("the ledger cannot load its tree", error_type=type(exc).__name__)
                self.failure = exc
                self.failed.set()
                return False
        log.info("ledger storage reachable", tree_size=self.size)
        return True

    async def _run(self) -> None:
        if not self._loaded and not await self._load_until_ready():
            return
        while True:
            first = await self._queue.get()
            if first is _STOP:
                return
            if self._linger > 0 and self._queue.qsize() < self._max_batch - 1:
                # Let concurrent registrations join: one fsync and one signature
                # then serve them all.
                await asyncio.sleep(self._linger)
            batch = [_as_pending(first)]
            stopping = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(_as_pending(item))
            try:
                await self._sequence(batch)
            except Exception as exc:  # never let the loop die with callers waiting
                log.error("batch failed", error_type=type(exc).__name__, statements=len(batch))
                error = (
                    exc
                    if isinstance(exc, StorageUnavailable)
                    else StorageUnavailable("the ledger could not append the batch")
                )
                self._settle_error(batch, error)
                # Start over from what storage holds: an append that failed may
                # still have committed (its acknowledgement lost), or another
                # writer moved the log. A retry of the same statements then
                # finds them registered, or appends them once.
                with contextlib.suppress(Exception):
                    await self._load()
            if stopping:
                return

    async def _sequence(self, batch: list[_Pending]) -> None:
        stored = await self._repository.leaves_by_hash([item.leaf_hash for item in batch])
        fresh: list[_Pending] = []
        for item in batch:
            leaf = stored.get(item.leaf_hash)
            if leaf is not None:
                # Registered by an earlier batch after the caller's own check.
                self._in_flight.pop(item.leaf_hash, None)
                _resolve(item.future, leaf)
            else:
                fresh.append(item)
        if not fresh:
            return
        now = self._clock()
        tree = self._range.copy()
        leaves: list[LeafRecord] = []
        new_nodes: list[tuple[NodeKey, bytes]] = []
        for item in fresh:
            leaves.append(
                LeafRecord(
                    index=tree.size,
                    leaf_hash=item.leaf_hash,
                    statement=item.raw,
                    vcon_uuid=item.admitted.vcon_uuid,
                    operation=item.admitted.operation,
                    registered_at=now,
                )
            )
            new_nodes.extend(tree.append(item.leaf_hash))
        head = self._sign(tree, now)
        await self._repository.append(AppendBatch(leaves=leaves, nodes=new_nodes, head=head))
        known = self._range.nodes()
        known.update(new_nodes)
        self._range, self._head = tree, head
        receipts = ReceiptMaker(head.receipt_protected, head.receipt_signature, tree_size=head.size)
        for item, leaf in zip(fresh, leaves, strict=True):
            self._in_flight.pop(item.leaf_hash, None)
            receipt = receipts.make(
                leaf.index, inclusion_plan(leaf.index, head.size).assemble(known)
            )
            _resolve(item.future, Registration(leaf=leaf, receipt=receipt, tree_size=head.size))

    def _sign(self, tree: CompactRange, now: datetime) -> TreeHead:
        root = tree.root()
        protected, signature = sign_tree_head(
            self._key, origin=self._origin, size=tree.size, root=root, signed_at=now
        )
        return TreeHead(
            size=tree.size,
            root=root,
            signed_at=now,
            receipt_protected=protected,
            receipt_signature=signature,
            checkpoint=signed_checkpoint(self._key, origin=self._origin, size=tree.size, root=root),
        )

    def _settle_error(self, batch: Sequence[_Pending], error: Exception) -> None:
        for item in batch:
            self._in_flight.pop(item.leaf_hash, None)
            if not item.future.done():
                item.future.set_exception(error)


def _as_pending(item: object) -> _Pending:
    assert isinstance(item, _Pending)
    return item


def _resolve(
    future: asyncio.Future[Registration | LeafRecord], value: Registration | LeafRecord
) -> None:
    # A caller that gave up (cancelled) leaves a done future behind; the entry
    # is in the log all the same and a retry finds it.
    if not future.done():
        future.set_result(value)
