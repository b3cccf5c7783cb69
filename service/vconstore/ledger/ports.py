"""The ledger's storage port: what the sequencer and the gRPC service need
from a backend (SQLite embedded, MongoDB), and nothing more.

The log is one Merkle tree. A backend keeps
- the leaves (index, leaf hash, statement bytes and a little metadata),
- every complete subtree hash ("node", keyed by (level, index): the subtree
  covering leaves [index * 2**level, (index + 1) * 2**level); level 0 is the
  leaf hash), so a proof at any tree size needs O(log n) nodes fetched in one
  round trip,
- one signed tree head per appended batch.
Exactly one sequencer appends to a log at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["AppendBatch", "LeafRecord", "LedgerRepository", "NodeKey", "TreeHead"]

# (level, index) of a complete subtree.
NodeKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class LeafRecord:
    """One registered statement. `leaf_hash` = SHA-256(0x00 || statement)."""

    index: int
    leaf_hash: bytes
    statement: bytes
    vcon_uuid: str  # the statement's CWT `sub`
    operation: str  # register | amend | redact | delete
    registered_at: datetime  # UTC, when its batch was sequenced


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The signed state of the tree after a batch: the receipts' common part and
    the C2SP checkpoint. Receipts of every entry with index < size, at this size,
    are `receipt_protected` + `receipt_signature` + that entry's inclusion path."""

    size: int
    root: bytes
    signed_at: datetime  # UTC
    receipt_protected: bytes  # serialized COSE protected header of receipts at this size
    receipt_signature: bytes  # the COSE signature over the root with that header
    checkpoint: str  # C2SP signed note (origin, size, root, signature lines)


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """Leaves with indices previous_size .. head.size - 1 (consecutive, at least
    one, distinct leaf hashes), the complete-subtree nodes they create, and the
    head signed over the new root.

    `nodes` are exactly the subtrees this batch completes: every (level, index)
    with previous_size < (index + 1) * 2**level <= head.size, level 0 included.
    A later batch never adds a node of an earlier one, so a missing node would
    leave the proofs that need it unanswerable for good: backends refuse such a
    batch (ValueError). They store the hashes without interpreting them."""

    leaves: Sequence[LeafRecord]
    nodes: Sequence[tuple[NodeKey, bytes]]
    head: TreeHead


class LedgerRepository(Protocol):
    async def open(self) -> None:
        """Connect, create or migrate the schema, and discard any half-written
        batch (leaves or nodes beyond the latest head) left by a crash. A server
        backend may do this in the background and not wait for the server:
        every other call then waits for it (and fails with StorageUnavailable
        while the server is unreachable)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable if the backend cannot be reached."""

    async def append(self, batch: AppendBatch) -> None:
        """Store the batch atomically and durably: after return it survives a
        crash; on any error none of it is visible. Raises ValueError if the
        first leaf's index is not the current size (a second writer), if a leaf
        hash is already in the log (the sequencer checks leaves_by_hash first;
        this is the backstop), or if the batch is malformed (see AppendBatch).

        After StorageUnavailable the outcome may be unknown (the commit may have
        happened before the connection failed): compare latest_head() with
        batch.head before building the batch again."""

    async def latest_head(self) -> TreeHead | None:
        """The head of the largest size, None for an empty log."""

    async def head_at(self, size: int) -> TreeHead | None:
        """The head stored for exactly this size (a batch boundary), if any."""

    async def head_covering(self, index: int) -> TreeHead | None:
        """The smallest head whose size is > index: the one signed with the
        batch that appended leaf `index`."""

    async def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of these complete subtrees, in one query (MongoDB
        reads the latest head's size first: two round trips). Keys not stored
        (beyond the latest head's tree) are absent from the answer."""

    async def leaves_by_hash(self, leaf_hashes: Collection[bytes]) -> dict[bytes, LeafRecord]:
        """The committed leaves with these hashes (duplicate detection, GetEntry);
        hashes not in the log are absent from the answer."""

    async def leaf_at(self, index: int) -> LeafRecord | None:
        """The committed leaf at this index; None at or beyond the latest head's size."""

    async def leaves_for_vcon(
        self, vcon_uuid: str, *, after_index: int, limit: int
    ) -> list[LeafRecord]:
        """Committed leaves whose vcon_uuid matches, index > after_index, ascending,
        at most `limit` (ValueError if limit < 1). Fewer than `limit`: no more follow."""
