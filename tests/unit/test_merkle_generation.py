"""Proof generation (vconstore.ledger.merkle) against an independent reference:
a tree grown leaf by leaf with CompactRange, its stored nodes used to answer
proofs and roots at every historical size, each checked by the client
verifiers against the Merkle Tree Hash computed straight from RFC 9162."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vconstore.ledger.merkle import (
    CompactRange,
    ProofPlan,
    consistency_plan,
    inclusion_plan,
    range_plan,
    root_plan,
    subtree_consistency_plan,
    subtree_inclusion_plan,
    subtree_keys,
)
from vconstore.ledger.ports import NodeKey
from vconstore_client.transparency.errors import ProofError
from vconstore_client.transparency.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    node_hash,
    verify_consistency_proof,
    verify_inclusion_proof,
)

PROPERTY = settings(max_examples=60, deadline=None)


def reference_roots(leaves: Sequence[bytes]) -> Callable[[int, int], bytes]:
    """MTH(D[start:end]) as RFC 9162 2.1.1 defines it, over leaf hashes."""

    @cache
    def mth(start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaves[start]
        k = 1
        while k * 2 < n:
            k *= 2
        return node_hash(mth(start, start + k), mth(start + k, end))

    return mth


def grow(leaves: Sequence[bytes]) -> tuple[dict[NodeKey, bytes], list[CompactRange]]:
    """Every node the sequencer stores, and a snapshot of the edge at each size."""
    tree = CompactRange.empty()
    stored: dict[NodeKey, bytes] = {}
    snapshots = [tree.copy()]
    for value in leaves:
        for key, digest in tree.append(value):
            assert key not in stored, f"{key} produced twice"
            stored[key] = digest
        snapshots.append(tree.copy())
    return stored, snapshots


def exists_at(key: NodeKey, size: int) -> bool:
    level, index = key
    return (index + 1) << level <= size


def fetch(
    stored: Mapping[NodeKey, bytes], keys: frozenset[NodeKey], size: int
) -> dict[NodeKey, bytes]:
    """One storage round trip for exactly the plan's keys; each must be a
    complete subtree of the tree at `size`, so a historical proof never needs
    a node that did not exist then."""
    for key in keys:
        assert exists_at(key, size), f"{key} is not complete at size {size}"
    return {key: stored[key] for key in keys}


def distinct_leaves(count: int, salt: bytes) -> list[bytes]:
    # Distinct, so a proof for one index cannot also pass for another.
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(count)]


sizes = st.integers(min_value=1, max_value=300)
salts = st.binary(max_size=4)


@PROPERTY
@given(sizes, salts, st.randoms(use_true_random=False))
def test_proofs_at_every_historical_size_verify(n: int, salt: bytes, rnd: random.Random) -> None:
    leaves = distinct_leaves(n, salt)
    mth = reference_roots(leaves)
    stored, snapshots = grow(leaves)

    # Exactly the complete subtrees of the final tree were stored.
    assert len(stored) == 2 * n - n.bit_count()
    assert all(exists_at(key, n) for key in stored)

    for size in range(n + 1):
        root = mth(0, size)
        assert snapshots[size].size == size
        assert snapshots[size].root() == root
        plan = root_plan(size)
        assert plan.assemble(fetch(stored, plan.keys, size)) == root
        if size == 0:
            continue

        for index in {0, size - 1, rnd.randrange(size)}:
            proof_plan = inclusion_plan(index, size)
            proof = proof_plan.assemble(fetch(stored, proof_plan.keys, size))
            assert len(proof) <= math.ceil(math.log2(size))
            verify_inclusion_proof(leaves[index], index, size, proof, root)

        for old in {1, size, rnd.randint(1, size)}:
            proof_plan = consistency_plan(old, size)
            proof = proof_plan.assemble(fetch(stored, proof_plan.keys, size))
            assert len(proof) <= math.ceil(math.log2(size)) + 1
            assert (not proof) == (old == size)
            verify_consistency_proof(old, size, mth(0, old), root, proof)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=48), salts)
def test_every_index_and_every_pair_of_sizes(n: int, salt: bytes) -> None:
    leaves = distinct_leaves(n, salt)
    mth = reference_roots(leaves)
    stored, _ = grow(leaves)
    for size in range(1, n + 1):
        for index in range(size):
            proof = inclusion_plan(index, size).assemble(stored)
            verify_inclusion_proof(leaves[index], index, size, proof, mth(0, size))
            if size > 1:
                # The same proof for a neighbouring leaf must not pass.
                other = (index + 1) % size
                with pytest.raises(ProofError):
                    verify_inclusion_proof(leaves[other], other, size, proof, mth(0, size))
        for old in range(1, size + 1):
            proof = consistency_plan(old, size).assemble(stored)
            verify_consistency_proof(old, size, mth(0, old), mth(0, size), proof)
            if old < size:
                with pytest.raises(ProofError):
                    verify_consistency_proof(old + 1, size, mth(0, old + 1), mth(0, size), proof)


@PROPERTY
@given(sizes, st.data())
def test_a_resumed_range_continues_like_an_uninterrupted_one(n: int, data: st.DataObject) -> None:
    leaves = distinct_leaves(n, b"resume")
    stop = data.draw(st.integers(min_value=0, max_value=n), label="stop")

    uninterrupted = CompactRange.empty()
    stored: dict[NodeKey, bytes] = {}
    for value in leaves[:stop]:
        stored.update(uninterrupted.append(value))

    keys = CompactRange.keys_for(stop)
    assert keys == subtree_keys(0, stop)
    assert len(keys) == stop.bit_count()
    resumed = CompactRange.from_nodes(stop, {key: stored[key] for key in keys})
    assert resumed.size == stop
    assert resumed.nodes() == uninterrupted.nodes() == {key: stored[key] for key in keys}
    assert resumed.root() == uninterrupted.root()

    for value in leaves[stop:]:
        assert resumed.append(value) == uninterrupted.append(value)
        assert resumed.root() == uninterrupted.root()
    assert resumed.size == uninterrupted.size == n
    assert resumed.root() == reference_roots(leaves)(0, n)

    if keys:
        missing = dict.fromkeys(keys[1:], b"\0" * 32)
        with pytest.raises(LookupError, match=str(keys[0])):
            CompactRange.from_nodes(stop, missing)


def flipped(value: bytes, position: int, mask: int) -> bytes:
    changed = bytearray(value)
    changed[position] ^= mask
    return bytes(changed)


def every_flip(values: Sequence[bytes], mask: int) -> Iterator[tuple[int, bytes]]:
    for i, value in enumerate(values):
        for position in range(len(value)):
            yield i, flipped(value, position, mask)


@PROPERTY
@given(
    st.integers(min_value=2, max_value=200),
    st.integers(min_value=1, max_value=255),
    st.data(),
)
def test_any_flipped_byte_fails(n: int, mask: int, data: st.DataObject) -> None:
    leaves = distinct_leaves(n, b"flip")
    mth = reference_roots(leaves)
    stored, _ = grow(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    old = data.draw(st.integers(min_value=1, max_value=n - 1), label="old")
    root = mth(0, n)

    proof = inclusion_plan(index, n).assemble(stored)
    verify_inclusion_proof(leaves[index], index, n, proof, root)
    for i, changed in every_flip(proof, mask):
        tampered = [*proof[:i], changed, *proof[i + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion_proof(leaves[index], index, n, tampered, root)
    for _, changed in every_flip([root], mask):
        with pytest.raises(ProofError):
            verify_inclusion_proof(leaves[index], index, n, proof, changed)
    for _, changed in every_flip([leaves[index]], mask):
        with pytest.raises(ProofError):
            verify_inclusion_proof(changed, index, n, proof, root)

    proof = consistency_plan(old, n).assemble(stored)
    old_root = mth(0, old)
    verify_consistency_proof(old, n, old_root, root, proof)
    for i, changed in every_flip(proof, mask):
        tampered = [*proof[:i], changed, *proof[i + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency_proof(old, n, old_root, root, tampered)
    for _, changed in every_flip([old_root], mask):
        with pytest.raises(ProofError):
            verify_consistency_proof(old, n, changed, root, proof)
    for _, changed in every_flip([root], mask):
        with pytest.raises(ProofError):
            verify_consistency_proof(old, n, old_root, changed, proof)


# -- huge trees, without enumerating them ------------------------------------------------------

HUGE = 2**40 - 3


class UniformTree(Mapping[NodeKey, bytes]):
    """The stored nodes of a tree of `size` equal leaves, computed on demand:
    every complete subtree of a level has the same hash. Records what is read,
    so a test can see a plan touch only O(log n) nodes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.levels = [leaf_hash(b"same")]
        while len(self.levels) <= size.bit_length():
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))
        self.read: set[NodeKey] = set()

    def __getitem__(self, key: NodeKey) -> bytes:
        if not exists_at(key, self.size):
            raise KeyError(key)
        self.read.add(key)
        return self.levels[key[0]]

    def __iter__(self) -> Iterator[NodeKey]:
        raise AssertionError("a plan must not enumerate the tree")

    def __len__(self) -> int:
        raise AssertionError("a plan must not enumerate the tree")

    def root(self, size: int) -> bytes:
        """MTH of `size` equal leaves, by RFC 9162's split, in O(log n)."""
        if size == 0:
            return EMPTY_ROOT
        if size & (size - 1) == 0:
            return self.levels[size.bit_length() - 1]
        k = 1 << ((size - 1).bit_length() - 1)
        return node_hash(self.levels[k.bit_length() - 1], self.root(size - k))


def _bounded(plan: ProofPlan, levels: int) -> None:
    assert len(plan.elements) <= levels + 1
    assert len(plan.keys) <= 2 * levels + 1


@pytest.mark.parametrize(
    "index", [0, 1, HUGE // 2, HUGE - 5, HUGE - 2, HUGE - 1, 2**39 - 1, 2**39, 123_456_789_012]
)
def test_inclusion_at_2_to_the_40(index: int) -> None:
    tree = UniformTree(HUGE)
    plan = inclusion_plan(index, HUGE)
    _bounded(plan, 40)
    proof = plan.assemble(tree)
    assert tree.read == plan.keys
    assert len(proof) <= 40
    verify_inclusion_proof(tree.levels[0], index, HUGE, proof, tree.root(HUGE))


@pytest.mark.parametrize(
    ("size1", "size2"),
    [
        (1, HUGE),
        (HUGE - 1, HUGE),
        (HUGE, HUGE),
        (2**39, HUGE),
        (2**39 + 1, HUGE),
        (987_654_321, HUGE),
        (2**40 - 2**20 + 7, HUGE),
        (2**20 - 1, 2**39 + 3),
    ],
)
def test_consistency_at_2_to_the_40(size1: int, size2: int) -> None:
    tree = UniformTree(size2)
    plan = consistency_plan(size1, size2)
    _bounded(plan, 40)
    proof = plan.assemble(tree)
    assert tree.read == plan.keys
    verify_consistency_proof(size1, size2, tree.root(size1), tree.root(size2), proof)


@pytest.mark.parametrize("size", [0, 1, 2**39, HUGE, 2**40 - 1])
def test_root_at_2_to_the_40(size: int) -> None:
    tree = UniformTree(size)
    plan = root_plan(size)
    assert len(plan.keys) == size.bit_count()
    assert plan.assemble(tree) == tree.root(size)
    edge = CompactRange.from_nodes(size, tree)
    assert edge.root() == tree.root(size)
    edge.append(tree.levels[0])
    assert edge.root() == tree.root(size + 1)


# -- the building blocks ----------------------------------------------------------------------


def test_subtree_keys_decompose_into_maximal_aligned_subtrees() -> None:
    assert subtree_keys(0, 0) == []
    assert subtree_keys(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert subtree_keys(0, 8) == [(3, 0)]
    assert subtree_keys(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]
    assert subtree_keys(5, 6) == [(0, 5)]
    assert subtree_keys(HUGE - 1, HUGE) == [(0, HUGE - 1)]
    assert len(subtree_keys(1, HUGE)) <= 2 * 40
    for bad in [(-1, 3), (4, 3)]:
        with pytest.raises(ValueError, match="invalid leaf range"):
            subtree_keys(*bad)


@given(st.integers(min_value=0, max_value=2**45), st.integers(min_value=0, max_value=2**45))
def test_subtree_keys_tile_the_range(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    keys = subtree_keys(start, end)
    position = start
    for level, index in keys:
        assert index << level == position  # contiguous, aligned
        position += 1 << level
    assert position == end
    for (level, index), (next_level, _) in pairwise(keys):
        # Maximal: no two neighbours are the halves of one larger subtree.
        assert not (level == next_level and index % 2 == 0)
    assert len(keys) <= 2 * max(1, (end - start).bit_length())


def test_append_returns_the_completed_nodes_bottom_up() -> None:
    tree = CompactRange.empty()
    leaves = distinct_leaves(8, b"")
    completed = [tree.append(value) for value in leaves]
    assert [key for key, _ in completed[0]] == [(0, 0)]
    assert [key for key, _ in completed[1]] == [(0, 1), (1, 0)]
    assert [key for key, _ in completed[2]] == [(0, 2)]
    assert [key for key, _ in completed[7]] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[7][-1][1] == tree.root() == reference_roots(leaves)(0, 8)
    assert list(tree.nodes()) == [(3, 0)]


def test_compact_range_copies_are_independent() -> None:
    tree = CompactRange.empty()
    tree.append(leaf_hash(b"a"))
    snapshot = tree.copy()
    tree.append(leaf_hash(b"b"))
    assert snapshot.size == 1
    assert snapshot.root() == leaf_hash(b"a")
    assert tree.root() == node_hash(leaf_hash(b"a"), leaf_hash(b"b"))


def test_compact_range_refuses_malformed_input() -> None:
    with pytest.raises(ValueError, match="33 bytes"):
        CompactRange.empty().append(b"\0" * 33)
    with pytest.raises(ValueError, match="edge nodes"):
        CompactRange(3, [b"\0" * 32])
    with pytest.raises(ValueError, match="negative"):
        CompactRange(-1, [])
    assert CompactRange.empty().root() == EMPTY_ROOT
    assert CompactRange.empty().nodes() == {}


def test_plans_refuse_impossible_requests() -> None:
    for index, size in [(0, 0), (3, 3), (-1, 5), (5, 4)]:
        with pytest.raises(ValueError):
            inclusion_plan(index, size)
    for size1, size2 in [(0, 0), (0, 5), (6, 5), (-1, 5)]:
        with pytest.raises(ValueError):
            consistency_plan(size1, size2)
    with pytest.raises(ValueError):
        root_plan(-1)
    with pytest.raises(ValueError, match="not a subtree"):
        range_plan(3, 5)
    with pytest.raises(ValueError, match="not a subtree"):
        subtree_inclusion_plan(4, 3, 5)
    with pytest.raises(ValueError, match="beyond"):
        subtree_consistency_plan(4, 6, 5)


def test_equal_sizes_and_small_trees_need_nothing() -> None:
    assert consistency_plan(7, 7).keys == frozenset()
    assert consistency_plan(7, 7).assemble({}) == []
    assert inclusion_plan(0, 1).assemble({}) == []
    assert root_plan(0).keys == frozenset()
    assert root_plan(0).assemble({}) == EMPTY_ROOT


def test_assemble_names_the_missing_node() -> None:
    leaves = distinct_leaves(7, b"missing")
    stored, _ = grow(leaves)
    plan = inclusion_plan(0, 7)
    assert plan.keys == {(0, 1), (1, 1), (1, 2), (0, 6)}
    partial = {key: stored[key] for key in plan.keys if key != (1, 2)}
    with pytest.raises(LookupError, match=r"\(1, 2\)"):
        plan.assemble(partial)
    with pytest.raises(LookupError, match=r"\(2, 0\)"):
        root_plan(7).assemble({(1, 2): stored[(1, 2)], (0, 6): stored[(0, 6)]})
