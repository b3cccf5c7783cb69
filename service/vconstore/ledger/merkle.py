"""Merkle proof generation for the ledger's one RFC 9162 tree, over the stored
complete-subtree hashes ("nodes", see ports.NodeKey).

Every hash a proof or a root needs is the hash of a range [a, b) of leaves.
When the range is a complete aligned subtree it is one stored node; otherwise
it lies on the right edge of the tree at the requested size, and it is the
fold of the complete subtrees that decompose it. Either way the keys follow
from the sizes alone, so a plan lists them arithmetically, the caller fetches
them in one storage round trip, and the plan assembles the hashes: O(log n)
keys for any size, the latest or a historical one, without ever storing
right-edge hashes that later appends would make stale.

The hashing itself lives in the client package, so the server and every
verifier share one implementation of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vconstore.ledger.ports import NodeKey
from vconstore_client.transparency.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "CompactRange",
    "ProofPlan",
    "RootPlan",
    "consistency_plan",
    "inclusion_plan",
    "range_plan",
    "root_plan",
    "subtree_consistency_plan",
    "subtree_inclusion_plan",
    "subtree_keys",
]


def _trailing_zeros(value: int) -> int:
    return (value & -value).bit_length() - 1


def _split(size: int) -> int:
    """RFC 9162's k: the largest power of two smaller than `size` (>= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_keys(start: int, end: int) -> list[NodeKey]:
    """The maximal complete aligned subtrees that make up [start, end), left
    to right. Raises ValueError unless 0 <= start <= end."""
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    keys: list[NodeKey] = []
    while start < end:
        # The largest subtree that both starts aligned here and fits.
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, _trailing_zeros(start))
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _check_subtree(start: int, end: int) -> None:
    """Only these ranges have a Merkle Tree Hash that is the fold of their
    decomposition: start at 0 or aligned to the range's own power-of-two
    ceiling (the "valid subtrees" of draft-ietf-plants-merkle-tree-certs).
    Every range an RFC 9162 proof names is one."""
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    if start and start != end:
        ceiling = 1 << (end - start - 1).bit_length()
        if start % ceiling:
            raise ValueError(f"[{start}, {end}) is not a subtree of the log's tree")


def _fold(keys: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    def get(key: NodeKey) -> bytes:
        try:
            return nodes[key]
        except KeyError:
            raise LookupError(f"node {key} is not among the fetched nodes") from None

    # Right to left: the decomposition's subtrees shrink left to right, and
    # MTH pairs the largest one with the hash of everything after it.
    acc = get(keys[-1])
    for key in reversed(keys[:-1]):
        acc = node_hash(get(key), acc)
    return acc


@dataclass(frozen=True)
class ProofPlan:
    """The stored nodes a proof needs, and how to make the proof from them."""

    keys: frozenset[NodeKey]
    # One entry per proof hash: the keys whose fold is that hash.
    elements: tuple[tuple[NodeKey, ...], ...]

    def assemble(self, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
        """The proof, leaf-sibling (or smallest subtree) first. Raises
        LookupError naming a key absent from `nodes`."""
        return [_fold(element, nodes) for element in self.elements]


@dataclass(frozen=True)
class RootPlan:
    """The stored nodes the root of a size needs, and how to fold them."""

    keys: frozenset[NodeKey]
    order: tuple[NodeKey, ...]

    def assemble(self, nodes: Mapping[NodeKey, bytes]) -> bytes:
        """The root. Raises LookupError naming a key absent from `nodes`."""
        if not self.order:
            return EMPTY_ROOT
        return _fold(self.order, nodes)


def _plan(ranges: Iterable[tuple[int, int]]) -> ProofPlan:
    elements = tuple(tuple(subtree_keys(a, b)) for a, b in ranges)
    return ProofPlan(
        keys=frozenset(key for element in elements for key in element), elements=elements
    )


def range_plan(start: int, end: int) -> RootPlan:
    """The Merkle Tree Hash of the leaves [start, end), a subtree of the log's
    tree (start 0 or aligned; SHA-256("") when empty)."""
    _check_subtree(start, end)
    order = tuple(subtree_keys(start, end))
    return RootPlan(keys=frozenset(order), order=order)


def root_plan(tree_size: int) -> RootPlan:
    """The root of the tree of `tree_size` leaves (EMPTY_ROOT for 0)."""
    if tree_size < 0:
        raise ValueError(f"negative tree size {tree_size}")
    return range_plan(0, tree_size)


def subtree_inclusion_plan(leaf_index: int, start: int, end: int) -> ProofPlan:
    """RFC 9162 PATH(leaf_index - start, D[start:end]) for a subtree
    [start, end) of the log's tree; start = 0 gives the ordinary proof."""
    _check_subtree(start, end)
    if not start <= leaf_index < end:
        raise ValueError(f"leaf {leaf_index} is not in [{start}, {end})")
    ranges: list[tuple[int, int]] = []
    lo, hi = start, end
    # Top-down: each split names the sibling of the half holding the leaf.
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if leaf_index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return _plan(ranges)


def inclusion_plan(leaf_index: int, tree_size: int) -> ProofPlan:
    """The inclusion proof of leaf `leaf_index` in the tree of `tree_size`
    leaves. Raises ValueError unless 0 <= leaf_index < tree_size."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    return subtree_inclusion_plan(leaf_index, 0, tree_size)


def subtree_consistency_plan(start: int, end: int, tree_size: int) -> ProofPlan:
    """The proof that the subtree [start, end) is part of the tree of
    `tree_size` leaves (SUBTREE_PROOF of draft-ietf-plants-merkle-tree-certs).
    With start = 0 this is RFC 9162 PROOF(end, D[tree_size]); it is empty when
    end == tree_size there, or when start == end."""
    _check_subtree(start, end)
    if end > tree_size:
        raise ValueError(f"[{start}, {end}) is beyond a tree of size {tree_size}")
    if start == end:
        return _plan(())
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, tree_size
    # Whether the verifier already holds the hash of the current [start, end)
    # (the old root); once the walk goes right of a split it no longer does.
    known = True
    while (lo, hi) != (start, end):
        mid = lo + _split(hi - lo)
        if end <= mid:
            ranges.append((mid, hi))
            hi = mid
        elif mid <= start:
            ranges.append((lo, mid))
            lo = mid
        else:
            # The subtree straddles the split, so it starts at lo (it is
            # aligned): its left part is complete and the proof continues
            # with the part right of the split.
            ranges.append((lo, mid))
            lo = start = mid
            known = False
    if not known:
        ranges.append((start, end))
    ranges.reverse()
    return _plan(ranges)


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """The consistency proof from the tree of `size1` leaves to the tree of
    `size2` leaves. Raises ValueError unless 0 < size1 <= size2; equal sizes
    give the empty proof."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    return subtree_consistency_plan(0, size1, size2)


class CompactRange:
    """The right edge of the tree: the hashes of the maximal complete
    subtrees of [0, size), largest first. Enough to append and to compute the
    root, in O(log n) memory; the single sequencer keeps one in memory and
    resumes it from storage after a restart."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} edge nodes")
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError(f"node hash is {len(h)} bytes, not {HASH_SIZE}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        return self._size

    @classmethod
    def empty(cls) -> CompactRange:
        return cls(0, [])

    @staticmethod
    def keys_for(size: int) -> list[NodeKey]:
        """The nodes to load to resume a tree of this size."""
        return subtree_keys(0, size)

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[NodeKey, bytes]) -> CompactRange:
        """Resume from stored nodes (at least those of keys_for(size)).
        Raises LookupError naming a missing key."""
        hashes = []
        for key in cls.keys_for(size):
            try:
                hashes.append(nodes[key])
            except KeyError:
                raise LookupError(f"node {key} is needed to resume size {size}") from None
        return cls(size, hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add a leaf. Returns every node it completes, (0, index) first and
        then upwards: the nodes to store with it."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        index = self._size
        h = leaf_hash
        completed: list[tuple[NodeKey, bytes]] = [((0, index), h)]
        level = 0
        # Each set low bit of the old size is a pending left sibling of the
        # same level (the edge's smallest node), which the new node completes.
        while (index >> level) & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            completed.append(((level, index >> level), h))
        self._hashes.append(h)
        self._size += 1
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def nodes(self) -> dict[NodeKey, bytes]:
        return dict(zip(self.keys_for(self._size), self._hashes, strict=True))

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"
