"""The ledger's storage port over dicts: for fast tests, and the reference
semantics the SQLite and MongoDB adapters are held to by the contract suite.

Nothing is durable, but the data outlives close(): open() again on the same
object sees it, as reopening a file would. Every method runs to completion
without awaiting, so on one event loop each call is atomic, as a transaction
would make it.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import replace

from vconstore.domain.errors import StorageUnavailable
from vconstore.ledger.ports import AppendBatch, LeafRecord, NodeKey, TreeHead
from vconstore.storage.normalise import utc

from .batches import check_batch, check_limit, check_next

__all__ = ["InMemoryLedgerRepository"]


class InMemoryLedgerRepository:
    def __init__(self) -> None:
        self._leaves: list[LeafRecord] = []  # position = index
        self._by_hash: dict[bytes, int] = {}
        self._by_vcon: dict[str, list[int]] = {}  # ascending indices
        self._nodes: dict[NodeKey, bytes] = {}
        self._heads: dict[int, TreeHead] = {}
        self._sizes: list[int] = []  # ascending
        self._open = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def ping(self) -> None:
        self._check_open()

    async def append(self, batch: AppendBatch) -> None:
        self._check_open()
        check_batch(batch)
        check_next(batch, len(self._leaves))
        if any(leaf.leaf_hash in self._by_hash for leaf in batch.leaves):
            raise ValueError("a leaf hash of the batch is already in the log")
        # Normalised as the other backends store them: instants in UTC, bytes as bytes.
        leaves = [
            replace(
                leaf,
                leaf_hash=bytes(leaf.leaf_hash),
                statement=bytes(leaf.statement),
                registered_at=utc(leaf.registered_at),
            )
            for leaf in batch.leaves
        ]
        head = replace(
            batch.head,
            root=bytes(batch.head.root),
            signed_at=utc(batch.head.signed_at),
            receipt_protected=bytes(batch.head.receipt_protected),
            receipt_signature=bytes(batch.head.receipt_signature),
        )
        for leaf in leaves:
            self._leaves.append(leaf)
            self._by_hash[leaf.leaf_hash] = leaf.index
            self._by_vcon.setdefault(leaf.vcon_uuid, []).append(leaf.index)
        self._nodes.update((key, bytes(value)) for key, value in batch.nodes)
        self._heads[head.size] = head
        self._sizes.append(head.size)

    async def latest_head(self) -> TreeHead | None:
        self._check_open()
        return self._heads[self._sizes[-1]] if self._sizes else None

    async def head_at(self, size: int) -> TreeHead | None:
        self._check_open()
        return self._heads.get(size)

    async def head_covering(self, index: int) -> TreeHead | None:
        self._check_open()
        position = bisect.bisect_right(self._sizes, index)
        return self._heads[self._sizes[position]] if position < len(self._sizes) else None

    async def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        self._check_open()
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    async def leaves_by_hash(self, leaf_hashes: Collection[bytes]) -> dict[bytes, LeafRecord]:
        self._check_open()
        found = (self._by_hash.get(bytes(leaf_hash)) for leaf_hash in leaf_hashes)
        return {
            self._leaves[index].leaf_hash: self._leaves[index]
            for index in found
            if index is not None
        }

    async def leaf_at(self, index: int) -> LeafRecord | None:
        self._check_open()
        return self._leaves[index] if 0 <= index < len(self._leaves) else None

    async def leaves_for_vcon(
        self, vcon_uuid: str, *, after_index: int, limit: int
    ) -> list[LeafRecord]:
        check_limit(limit)
        self._check_open()
        indices = self._by_vcon.get(vcon_uuid, [])
        start = bisect.bisect_right(indices, after_index)
        return [self._leaves[index] for index in indices[start : start + limit]]

    def _check_open(self) -> None:
        if not self._open:
            raise StorageUnavailable("in-memory ledger storage is not open")
