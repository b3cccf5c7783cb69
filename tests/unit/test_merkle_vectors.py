"""The Merkle code against published data: the RFC 6962 / 9162 golden proofs of
transparency-dev/merkle (through the client verifiers), the proofs derived
from the same 8-leaf tree (which the server's plans must reproduce exactly),
and the accumulated digests of draft-ietf-plants-merkle-tree-certs Appendix
C.1, which check proof generation at every tree size up to 130.

The vector file is a byte-exact copy of shared/vectors/merkle-rfc6962.json
(see its "schema" and "source" members)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vconstore.ledger.merkle import (
    CompactRange,
    consistency_plan,
    inclusion_plan,
    range_plan,
    root_plan,
    subtree_consistency_plan,
    subtree_inclusion_plan,
)
from vconstore.ledger.ports import NodeKey
from vconstore_client.transparency.errors import ProofError
from vconstore_client.transparency.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency_proof,
    verify_inclusion_proof,
)

VECTOR_FILE = Path(__file__).resolve().parents[1] / "vectors" / "merkle-rfc6962.json"
# Pinned so an edit to the copy cannot quietly weaken the tests.
VECTOR_FILE_SHA256 = "49b124fa063074544c46403e13ce0b8eb2f2654b2b6c59b47dc678cb47e076e7"

VECTORS: dict[str, Any] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
TREE = VECTORS["tree"]
INCLUSION: list[dict[str, Any]] = VECTORS["inclusion"] + VECTORS["derived_inclusion"]
CONSISTENCY: list[dict[str, Any]] = VECTORS["consistency"] + VECTORS["derived_consistency"]
ROLLING = {entry["kind"]: entry for entry in VECTORS["rolling_digests"]}
UINT63 = 1 << 63


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def hexes(values: list[str]) -> list[bytes]:
    return [h(v) for v in values]


def tree_nodes() -> dict[NodeKey, bytes]:
    return {
        (level, index): h(value)
        for level, row in enumerate(TREE["node_hashes"])
        for index, value in enumerate(row)
    }


def fetch(nodes: dict[NodeKey, bytes], keys: frozenset[NodeKey]) -> dict[NodeKey, bytes]:
    """What one storage round trip for exactly these keys would answer."""
    assert keys <= nodes.keys(), sorted(keys - nodes.keys())
    return {key: nodes[key] for key in keys}


# -- the file -------------------------------------------------------------------------------


def test_vector_file_is_the_pinned_copy_with_the_counts_it_declares() -> None:
    assert hashlib.sha256(VECTOR_FILE.read_bytes()).hexdigest() == VECTOR_FILE_SHA256
    counts = VECTORS["counts"]
    assert len(TREE["roots"]) == counts["roots"] == 9
    for kind in ("inclusion", "consistency"):
        assert len(VECTORS[kind]) == counts[kind]
        assert sum(e["valid"] for e in VECTORS[kind]) == counts[f"{kind}_valid"]
        assert len(VECTORS[f"derived_{kind}"]) == counts[f"derived_{kind}"]
    assert len(VECTORS["rolling_digests"]) == counts["rolling_digests"]
    ids = [e["id"] for e in INCLUSION + CONSISTENCY]
    assert len(ids) == len(set(ids))


def test_the_wraparound_probes_are_present() -> None:
    big = [
        e["id"]
        for e in INCLUSION + CONSISTENCY
        for field in ("leaf_index", "tree_size", "size1", "size2")
        if e.get(field, 0) >= UINT63
    ]
    assert len(big) >= 2, big


# -- the tree --------------------------------------------------------------------------------


def test_leaf_and_node_hashes_of_the_tree() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == h(TREE["roots"][0])
    leaves = hexes(TREE["leaves"])
    assert [leaf_hash(d) for d in leaves] == hexes(TREE["leaf_hashes"])
    levels = TREE["node_hashes"]
    assert levels[0] == TREE["leaf_hashes"]
    for level in range(1, len(levels)):
        below = hexes(levels[level - 1])
        assert [node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(levels[level]))] == (
            hexes(levels[level])
        )


def test_compact_range_yields_every_node_and_root_of_the_tree() -> None:
    tree = CompactRange.empty()
    assert tree.root() == h(TREE["roots"][0])
    produced: dict[NodeKey, bytes] = {}
    for size, data in enumerate(hexes(TREE["leaves"]), start=1):
        for key, value in tree.append(leaf_hash(data)):
            assert key not in produced
            produced[key] = value
        assert tree.size == size
        assert tree.root() == h(TREE["roots"][size]), size
    assert produced == tree_nodes()


@pytest.mark.parametrize("size", range(9))
def test_root_plan_gives_the_published_root(size: int) -> None:
    plan = root_plan(size)
    assert plan.assemble(fetch(tree_nodes(), plan.keys)) == h(TREE["roots"][size])
    assert len(plan.keys) == size.bit_count()


# -- published and derived proofs through the client verifiers -------------------------------


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


@pytest.mark.parametrize("entry", INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vector(entry: dict[str, Any]) -> None:
    args = (h(entry["leaf_hash"]), entry["leaf_index"], entry["tree_size"], hexes(entry["proof"]))
    root = h(entry["root"])
    if entry["valid"]:
        verify_inclusion_proof(*args, root)
        assert root_from_inclusion_proof(*args) == root
    else:
        with pytest.raises(ProofError):
            verify_inclusion_proof(*args, root)


# Published as valid, but its "roots" are the 12 ASCII bytes "don't care 2":
# the reference compares equal-size roots without looking at them. The schema
# (and RFC9162_SHA256) says every hash is 32 bytes, and a verifier gains
# nothing by accepting a root that cannot be one, so ours refuses it.
STRICTER_THAN_PUBLISHED = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty": "root1 is 12 bytes",
}


@pytest.mark.parametrize("entry", CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vector(entry: dict[str, Any]) -> None:
    args = (
        entry["size1"],
        entry["size2"],
        h(entry["root1"]),
        h(entry["root2"]),
        hexes(entry["proof"]),
    )
    if entry["id"] in STRICTER_THAN_PUBLISHED:
        assert entry["valid"]
        with pytest.raises(ProofError, match=STRICTER_THAN_PUBLISHED[entry["id"]]):
            verify_consistency_proof(*args)
        # The same claim over real roots holds.
        root = h(TREE["roots"][entry["size1"]])
        verify_consistency_proof(entry["size1"], entry["size2"], root, root, args[4])
    elif entry["valid"]:
        verify_consistency_proof(*args)
    else:
        with pytest.raises(ProofError):
            verify_consistency_proof(*args)


# -- the server's plans reproduce the proofs ---------------------------------------------------


def _on_the_tree(entry: dict[str, Any]) -> bool:
    """Valid entries about the 8-leaf tree (not the standalone single-entry ones)."""
    if not entry["valid"]:
        return False
    if "tree_size" in entry:
        return bool(
            entry["root"] == TREE["roots"][entry["tree_size"]]
            and entry["leaf_hash"] == TREE["leaf_hashes"][entry["leaf_index"]]
        )
    return bool(
        entry["root1"] == TREE["roots"][entry["size1"]]
        and entry["root2"] == TREE["roots"][entry["size2"]]
    )


TREE_INCLUSION = [e for e in INCLUSION if _on_the_tree(e)]
TREE_CONSISTENCY = [e for e in CONSISTENCY if _on_the_tree(e)]


def test_every_derived_and_published_happy_path_is_on_the_tree() -> None:
    derived_inclusion = {e["id"] for e in VECTORS["derived_inclusion"]}
    derived_consistency = {e["id"] for e in VECTORS["derived_consistency"]}
    assert derived_inclusion <= {e["id"] for e in TREE_INCLUSION}
    assert derived_consistency <= {e["id"] for e in TREE_CONSISTENCY}
    # Every index of every size, every pair of sizes, plus the published ones.
    assert len(derived_inclusion) == len(derived_consistency) == 36
    assert len(TREE_INCLUSION) == 36 + 5
    assert len(TREE_CONSISTENCY) == 36 + 5


@pytest.mark.parametrize("entry", TREE_INCLUSION, ids=_ids(TREE_INCLUSION))
def test_inclusion_plan_reproduces(entry: dict[str, Any]) -> None:
    plan = inclusion_plan(entry["leaf_index"], entry["tree_size"])
    assert plan.assemble(fetch(tree_nodes(), plan.keys)) == hexes(entry["proof"])


@pytest.mark.parametrize("entry", TREE_CONSISTENCY, ids=_ids(TREE_CONSISTENCY))
def test_consistency_plan_reproduces(entry: dict[str, Any]) -> None:
    plan = consistency_plan(entry["size1"], entry["size2"])
    assert plan.assemble(fetch(tree_nodes(), plan.keys)) == hexes(entry["proof"])


# -- draft-ietf-plants-merkle-tree-certs Appendix C.1 accumulated digests ----------------------


def _valid(start: int, end: int) -> bool:
    # As the file's schema defines it: empty subtrees included.
    if start > end:
        return False
    if start == 0 or start == end:
        return True
    return start % (1 << (end - start - 1).bit_length()) == 0


def _subtrees(max_end: int) -> Iterator[tuple[int, int]]:
    for end in range(max_end + 1):
        for start in range(end + 1):
            if _valid(start, end):
                yield start, end


def _line(prefix: str, proof: list[bytes]) -> bytes:
    return (prefix + "".join(" " + p.hex() for p in proof) + "\n").encode()


@pytest.fixture(scope="module")
def rolling_nodes() -> dict[NodeKey, bytes]:
    """Every complete node of the tree D[i] = bytes([i]), i < 130, as the
    sequencer would have stored them."""
    size = ROLLING["subtree_hashes"]["max_size"]
    assert all(entry["max_size"] == size == 130 for entry in ROLLING.values())
    tree = CompactRange.empty()
    nodes: dict[NodeKey, bytes] = {}
    for i in range(size):
        nodes.update(tree.append(leaf_hash(bytes([i]))))
    return nodes


def test_rolling_subtree_hashes(rolling_nodes: dict[NodeKey, bytes]) -> None:
    entry = ROLLING["subtree_hashes"]
    digest = hashlib.sha256()
    for start, end in _subtrees(entry["max_size"]):
        plan = range_plan(start, end)
        value = plan.assemble(fetch(rolling_nodes, plan.keys))
        digest.update(f"[{start}, {end}) {value.hex()}\n".encode())
    assert digest.hexdigest() == entry["sha256"]


def test_rolling_subtree_inclusion_proofs(rolling_nodes: dict[NodeKey, bytes]) -> None:
    entry = ROLLING["subtree_inclusion_proofs"]
    digest = hashlib.sha256()
    for start, end in _subtrees(entry["max_size"]):
        for index in range(start, end):
            plan = subtree_inclusion_plan(index, start, end)
            proof = plan.assemble(fetch(rolling_nodes, plan.keys))
            digest.update(_line(f"{index} [{start}, {end})", proof))
    assert digest.hexdigest() == entry["sha256"]


def test_rolling_subtree_consistency_proofs(rolling_nodes: dict[NodeKey, bytes]) -> None:
    entry = ROLLING["subtree_consistency_proofs"]
    digest = hashlib.sha256()
    for n in range(entry["max_size"] + 1):
        for start, end in _subtrees(n):
            plan = subtree_consistency_plan(start, end, n)
            proof = plan.assemble(fetch(rolling_nodes, plan.keys))
            if start == 0 and end > 0:
                # The RFC 9162 special case: the same proof as consistency_plan.
                assert proof == consistency_plan(end, n).assemble(rolling_nodes)
            digest.update(_line(f"[{start}, {end}) {n}", proof))
    assert digest.hexdigest() == entry["sha256"]


# -- the verifiers beyond the vectors ---------------------------------------------------------

LEAF = h(TREE["leaf_hashes"][5])
PROOF_5_OF_8 = hexes(next(e for e in INCLUSION if e["id"] == "inclusion/2/happy-path")["proof"])
ROOT_8 = h(TREE["roots"][8])


def test_a_one_leaf_tree_has_the_empty_proof() -> None:
    only = leaf_hash(b"x")
    assert root_from_inclusion_proof(only, 0, 1, []) == only
    verify_inclusion_proof(only, 0, 1, [], only)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root", "reason"),
    [
        (LEAF, -1, 8, PROOF_5_OF_8, ROOT_8, "negative"),
        (LEAF, 5, -8, PROOF_5_OF_8, ROOT_8, "negative"),
        (LEAF, 8, 8, PROOF_5_OF_8, ROOT_8, "not below"),
        (LEAF, 5, 8, PROOF_5_OF_8[:2], ROOT_8, "expected 3"),
        (LEAF, 5, 8, [*PROOF_5_OF_8, ROOT_8], ROOT_8, "expected 3"),
        (LEAF, 5, 8, [PROOF_5_OF_8[0][:31], *PROOF_5_OF_8[1:]], ROOT_8, "proof\\[0\\] is 31"),
        (LEAF[:31], 5, 8, PROOF_5_OF_8, ROOT_8, "leaf hash is 31"),
        (LEAF, 5, 8, PROOF_5_OF_8, ROOT_8 + b"\0", "root is 33"),
        (LEAF, 4, 8, PROOF_5_OF_8, ROOT_8, "given root"),
        (LEAF, 5, 2**64 + 8, PROOF_5_OF_8, ROOT_8, "expected 65"),
        (LEAF, 2**64 - 1, 2**64, [ROOT_8] * 64, ROOT_8, "given root"),
        (LEAF, 2**200, 2**201, [ROOT_8] * 201, ROOT_8, "given root"),
    ],
)
def test_inclusion_failures_say_why(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, reason: str
) -> None:
    with pytest.raises(ProofError, match=reason):
        verify_inclusion_proof(leaf, index, size, proof, root)


CONSISTENCY_6_TO_8 = next(e for e in CONSISTENCY if e["id"] == "consistency/2/happy-path")
ROOT_6 = h(TREE["roots"][6])
PROOF_6_TO_8 = hexes(CONSISTENCY_6_TO_8["proof"])


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "reason"),
    [
        (-6, 8, ROOT_6, ROOT_8, PROOF_6_TO_8, "negative"),
        (6, -8, ROOT_6, ROOT_8, PROOF_6_TO_8, "negative"),
        (8, 6, ROOT_8, ROOT_6, PROOF_6_TO_8, "greater"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], "empty tree"),
        (0, 8, EMPTY_ROOT, ROOT_8, [], "empty tree"),
        (8, 8, ROOT_8, ROOT_8, [ROOT_8], "equal sizes has 1"),
        (8, 8, ROOT_8, ROOT_6, [], "roots differ"),
        (6, 8, ROOT_6, ROOT_8, PROOF_6_TO_8[:2], "expected 3"),
        (6, 8, ROOT_6, ROOT_8, [*PROOF_6_TO_8, ROOT_8], "expected 3"),
        (6, 8, ROOT_6[:31], ROOT_8, PROOF_6_TO_8, "root1 is 31"),
        (6, 8, ROOT_6, ROOT_8 + b"\0", PROOF_6_TO_8, "root2 is 33"),
        (6, 8, ROOT_6, ROOT_8, [b"", *PROOF_6_TO_8[1:]], "proof\\[0\\] is 0"),
        (6, 8, ROOT_8, ROOT_8, PROOF_6_TO_8, "root1"),
        (6, 8, ROOT_6, ROOT_6, PROOF_6_TO_8, "root2"),
        (6, 2**64 + 8, ROOT_6, ROOT_8, PROOF_6_TO_8, "expected 65"),
        (2**64 - 2, 2**64 - 1, ROOT_6, ROOT_8, [ROOT_8] * 64, "root1"),
        (2**64 - 1, 2**65, ROOT_6, ROOT_8, [ROOT_8] * 66, "root1"),
    ],
)
def test_consistency_failures_say_why(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], reason: str
) -> None:
    with pytest.raises(ProofError, match=reason):
        verify_consistency_proof(size1, size2, root1, root2, proof)
