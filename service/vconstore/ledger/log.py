"""The ledger's use cases: register signed statements, read entries, receipts,
proofs and checkpoints. The gRPC layer (servicer.py) only translates.

Registration checks each statement once: a statement whose leaf hash is
already in the log (or queued) is not verified again; a new one is parsed and
its issuer signature verified by admission.py's workers, then handed to the
sequencer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vconstore.domain.errors import DomainError, InvalidRequest
from vconstore.domain.uuids import canonical_uuid
from vconstore.ledger.admission import Admission
from vconstore.ledger.errors import EntryNotFound, StatementMalformed, TreeSizeOutOfRange
from vconstore.ledger.merkle import consistency_plan, inclusion_plan, root_plan
from vconstore.ledger.ports import LeafRecord, LedgerRepository, TreeHead
from vconstore.ledger.sequencer import Registration, Sequencer, receipt_for
from vconstore_client.transparency.merkle import entry_id_of, leaf_hash

__all__ = [
    "ConsistencyProof",
    "InclusionProof",
    "RegistrationOutcome",
    "TransparencyLog",
]

_ENTRY_ID = re.compile(r"sha256:([0-9a-f]{64})")
_PAGE_SIZE_DEFAULT = 50
_PAGE_SIZE_MAX = 1000

RegistrationOutcome = Registration | DomainError


def _leaf_hash_of(entry_id: str) -> bytes:
    match = _ENTRY_ID.fullmatch(entry_id)
    if match is None:
        raise InvalidRequest("entry_id", "not an entry id ('sha256:' and 64 lowercase hex digits)")
    return bytes.fromhex(match.group(1))


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: list[bytes]
    root: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first_size: int
    second_size: int
    hashes: list[bytes]
    first_root: bytes
    second_root: bytes


class TransparencyLog:
    def __init__(
        self,
        repository: LedgerRepository,
        sequencer: Sequencer,
        admission: Admission,
        *,
        max_statement_bytes: int,
    ) -> None:
        self._repository = repository
        self._sequencer = sequencer
        self._admission = admission
        self._max_statement_bytes = max_statement_bytes

    # --- registration ----------------------------------------------------------

    async def register(self, raws: Sequence[bytes]) -> list[RegistrationOutcome]:
        """One outcome per statement, in order; a refusal does not affect the others."""
        outcomes: list[RegistrationOutcome | None] = [None] * len(raws)
        hashes: list[bytes] = []
        for position, raw in enumerate(raws):
            if not raw:
                outcomes[position] = StatementMalformed("empty")
            elif len(raw) > self._max_statement_bytes:
                outcomes[position] = StatementMalformed(
                    f"{len(raw)} bytes, more than the limit of {self._max_statement_bytes}"
                )
            hashes.append(leaf_hash(raw))
        candidates = [i for i, outcome in enumerate(outcomes) if outcome is None]
        stored = await self._repository.leaves_by_hash({hashes[i] for i in candidates})
        waiting: dict[int, tuple[asyncio.Future[Registration | LeafRecord], bool]] = {}
        to_verify: list[int] = []
        # A statement repeated within this call is checked once: its later
        # copies share the first copy's outcome.
        first_copy: dict[bytes, int] = {}
        copies: dict[int, int] = {}
        for i in candidates:
            leaf = stored.get(hashes[i])
            if leaf is not None:
                outcomes[i] = await self._registration_of(leaf, already_registered=True)
                continue
            if hashes[i] in first_copy:
                copies[i] = first_copy[hashes[i]]
                continue
            first_copy[hashes[i]] = i
            queued = self._sequencer.pending(hashes[i])
            if queued is not None:
                waiting[i] = (queued, True)
            else:
                to_verify.append(i)
        checked = await self._admission.check([raws[i] for i in to_verify])
        for i, result in zip(to_verify, checked, strict=True):
            if isinstance(result, DomainError):
                outcomes[i] = result
            else:
                # After the await above, another caller may have queued it.
                waiting[i] = self._sequencer.submit(hashes[i], raws[i], result)
        for i, first in copies.items():
            if first in waiting:
                waiting[i] = (waiting[first][0], True)
            else:
                outcomes[i] = outcomes[first]
        for i, (future, duplicate) in waiting.items():
            try:
                # shield: one caller giving up must not cancel a future that
                # another caller of the same statement shares.
                value = await asyncio.shield(future)
            except DomainError as error:
                outcomes[i] = error
                continue
            if isinstance(value, LeafRecord):
                outcomes[i] = await self._registration_of(value, already_registered=True)
            elif duplicate:
                outcomes[i] = Registration(
                    leaf=value.leaf,
                    receipt=value.receipt,
                    tree_size=value.tree_size,
                    already_registered=True,
                )
            else:
                outcomes[i] = value
        return [outcome for outcome in outcomes if outcome is not None]

    # --- reads -------------------------------------------------------------------

    @property
    def head(self) -> TreeHead | None:
        return self._sequencer.head

    async def get_entry(self, entry_id: str) -> Registration:
        wanted = _leaf_hash_of(entry_id)
        leaf = (await self._repository.leaves_by_hash([wanted])).get(wanted)
        if leaf is None:
            raise EntryNotFound(entry_id)
        return await self._registration_of(leaf)

    async def list_vcon_entries(
        self, vcon_uuid: str, *, page_size: int, page_token: str
    ) -> tuple[list[Registration], str]:
        uuid = canonical_uuid(vcon_uuid, field="vcon_uuid")
        if page_size < 0:
            raise InvalidRequest("page_size", "must not be negative")
        limit = min(page_size or _PAGE_SIZE_DEFAULT, _PAGE_SIZE_MAX)
        after = _decode_page_token(page_token, uuid) if page_token else -1
        leaves = await self._repository.leaves_for_vcon(uuid, after_index=after, limit=limit + 1)
        more = len(leaves) > limit
        leaves = leaves[:limit]
        registrations = [await self._registration_of(leaf) for leaf in leaves]
        token = _encode_page_token(uuid, leaves[-1].index) if more else ""
        return registrations, token

    async def inclusion_proof(self, entry_id: str, tree_size: int) -> InclusionProof:
        wanted = _leaf_hash_of(entry_id)
        size = self._size_at_most_current(tree_size, field="tree_size")
        leaf = (await self._repository.leaves_by_hash([wanted])).get(wanted)
        if leaf is None:
            raise EntryNotFound(entry_id)
        if leaf.index >= size:
            raise InvalidRequest(
                "tree_size",
                f"entry {entry_id} has index {leaf.index}, so it is not in the tree of size {size}",
            )
        plan, roots = inclusion_plan(leaf.index, size), root_plan(size)
        nodes = await self._repository.nodes(plan.keys | roots.keys)
        return InclusionProof(leaf.index, size, plan.assemble(nodes), roots.assemble(nodes))

    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        if first < 1:
            raise InvalidRequest("first_tree_size", "must be at least 1")
        second_size = self._size_at_most_current(second, field="second_tree_size")
        if first > self._sequencer.size:
            raise TreeSizeOutOfRange(first, self._sequencer.size)
        if first > second_size:
            raise InvalidRequest("first_tree_size", "must not exceed second_tree_size")
        plan, first_root, second_root = (
            consistency_plan(first, second_size),
            root_plan(first),
            root_plan(second_size),
        )
        nodes = await self._repository.nodes(plan.keys | first_root.keys | second_root.keys)
        return ConsistencyProof(
            first,
            second_size,
            plan.assemble(nodes),
            first_root.assemble(nodes),
            second_root.assemble(nodes),
        )

    def _size_at_most_current(self, requested: int, *, field: str) -> int:
        current = self._sequencer.size
        if requested < 0:
            raise InvalidRequest(field, "must not be negative")
        if requested > current:
            raise TreeSizeOutOfRange(requested, current)
        size = requested or current
        if size == 0:
            raise TreeSizeOutOfRange(1, 0)
        return size

    async def _registration_of(
        self, leaf: LeafRecord, *, already_registered: bool = False
    ) -> Registration:
        """The entry with the receipt signed by the batch that appended it."""
        head = await self._repository.head_covering(leaf.index)
        if head is None:  # storage is behind its own leaves: never for a committed leaf
            raise EntryNotFound(entry_id_of(leaf.leaf_hash))
        nodes = await self._repository.nodes(inclusion_plan(leaf.index, head.size).keys)
        return Registration(
            leaf=leaf,
            receipt=receipt_for(head, leaf.index, nodes),
            tree_size=head.size,
            already_registered=already_registered,
        )


def _encode_page_token(vcon_uuid: str, last_index: int) -> str:
    return base64.urlsafe_b64encode(f"{vcon_uuid}:{last_index}".encode()).decode().rstrip("=")


def _decode_page_token(token: str, vcon_uuid: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        uuid, _, index = text.rpartition(":")
        last = int(index)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("page_token", "not a page token of ListVconEntries") from None
    if uuid != vcon_uuid or last < 0:
        raise InvalidRequest("page_token", "belongs to another vcon_uuid")
    return last
