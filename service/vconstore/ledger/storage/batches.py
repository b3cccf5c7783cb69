"""The rules every ledger backend applies the same way: what a well-formed
batch is, which nodes exist in a tree of a given size, and argument checks.
Pure functions, no I/O."""

from __future__ import annotations

from vconstore.ledger.ports import AppendBatch, NodeKey

__all__ = [
    "check_batch",
    "check_limit",
    "check_next",
    "first_index",
    "in_tree",
]


def in_tree(key: NodeKey, size: int) -> bool:
    """Whether the complete subtree `key` exists in the tree of `size` leaves."""
    level, index = key
    return level >= 0 and index >= 0 and (index + 1) << level <= size


def first_index(batch: AppendBatch) -> int:
    return batch.leaves[0].index if batch.leaves else batch.head.size


def check_batch(batch: AppendBatch) -> None:
    """ValueError unless the batch is well-formed on its own: at least one leaf,
    consecutive indices ending at head.size, distinct leaf hashes, and nodes
    that are exactly the complete subtrees it completes, i.e. every (level,
    index) with previous_size < (index + 1) * 2**level <= head.size.

    A missing node could never be added later (a batch only adds the nodes it
    completes), so the proofs that need it would fail forever: better to refuse
    the batch than to store it."""
    if not batch.leaves:
        raise ValueError("a batch appends at least one leaf")
    start = batch.leaves[0].index
    if start < 0:
        raise ValueError("leaf indices start at 0")
    if any(leaf.index != start + offset for offset, leaf in enumerate(batch.leaves)):
        raise ValueError("a batch's leaf indices must be consecutive")
    end = start + len(batch.leaves)
    if batch.head.size != end:
        raise ValueError(f"the head's size {batch.head.size} is not the batch's end {end}")
    if len({leaf.leaf_hash for leaf in batch.leaves}) != len(batch.leaves):
        raise ValueError("a batch holds the same leaf hash twice")
    keys = {key for key, _ in batch.nodes}
    if len(keys) != len(batch.nodes):
        raise ValueError("a batch holds the same node twice")
    expected = sum((end >> level) - (start >> level) for level in range(end.bit_length()))
    completed = all(in_tree(key, end) and not in_tree(key, start) for key in keys)
    if not completed or len(keys) != expected:
        raise ValueError(
            f"a batch's nodes must be exactly the {expected} subtrees completed "
            f"between sizes {start} and {end}"
        )


def check_next(batch: AppendBatch, size: int) -> None:
    """ValueError unless the batch starts at the log's current size."""
    start = first_index(batch)
    if start != size:
        raise ValueError(
            f"batch starts at index {start} but the log's size is {size} "
            "(another sequencer appended meanwhile?)"
        )


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError("limit must be at least 1")
