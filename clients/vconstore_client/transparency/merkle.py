"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof
verification: what any verifier of a receipt (RFC 9942, vds = RFC9162_SHA256)
or of a checkpoint's consistency needs. Standard library only, so a relying
party can copy this file on its own.

Beyond the RFC text, the checks follow the conventions of the
transparency-dev/merkle reference, which the published test vectors encode:
a proof must have exactly the expected number of hashes, every hash is 32
bytes, a consistency proof from size 0 is meaningless, and one between equal
sizes is the empty proof over equal roots.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from vconstore_client.transparency.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "entry_id_of",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency_proof",
    "verify_inclusion_proof",
]

HASH_SIZE = 32

# The distinct prefixes keep a leaf from ever being read as an interior node
# (RFC 9162 2.1.1: second-preimage resistance).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def entry_id_of(leaf: bytes) -> str:
    """The ledger's id of the entry with this leaf hash: "sha256:" + hex."""
    return "sha256:" + leaf.hex()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_hash(element, f"proof[{i}]")


def _path_length(index: int, size: int) -> int:
    """Hashes in the inclusion path of `index` in a tree of `size` leaves:
    one per level below where the paths of `index` and of the last leaf split
    ("inner"), plus one per left sibling above it on the right edge ("border")."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ProofError(f"{name} is negative ({value})")


def root_from_inclusion_proof(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 2.1.3.2), for the
    caller to compare with a root it trusts. Raises ProofError if the proof
    is malformed for this index and size."""
    _check_non_negative(leaf_index=leaf_index, tree_size=tree_size)
    if leaf_index >= tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof_hashes(proof)
    # The walk below would also fail on a wrong length; checking first gives
    # the reason, and bounds the work before any hashing.
    expected = _path_length(leaf_index, tree_size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes, expected {expected} "
            f"for leaf {leaf_index} of {tree_size}"
        )

    fn = leaf_index
    sn = tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # A left child here is the last node of its level: it was
            # promoted, not paired, on the levels it skips.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion_proof(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows the leaf at `leaf_index` in the
    tree of `tree_size` leaves whose root is `root`."""
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, leaf_index, tree_size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency_proof(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows the tree of `size1` leaves with
    root `root1` is a prefix of the tree of `size2` leaves with root `root2`
    (RFC 9162 2.1.4.2)."""
    _check_non_negative(size1=size1, size2=size2)
    if size2 < size1:
        raise ProofError(f"size1 {size1} is greater than size2 {size2}")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    _check_proof_hashes(proof)
    if size1 == 0:
        # Every tree extends the empty one: a proof would prove nothing, and
        # accepting one would invite callers to skip a real check.
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError(f"consistency proof between equal sizes has {len(proof)} hashes")
        if not hmac.compare_digest(root1, root2):
            raise ProofError("roots differ for equal tree sizes")
        return

    # Skip the levels where the old tree's last node is a right child: the
    # walk starts from the largest complete subtree ending at size1.
    shift = (~(size1 - 1) & size1).bit_length() - 1  # trailing zeros of size1
    fn = (size1 - 1) >> shift
    sn = (size2 - 1) >> shift
    # A power-of-two old tree is itself that subtree, so the proof omits it.
    seeded = fn == 0
    expected = (0 if seeded else 1) + _path_length(fn, sn + 1)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, expected {expected} "
            f"from size {size1} to {size2}"
        )

    path = [root1, *proof] if seeded else list(proof)
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if not hmac.compare_digest(fr, root1):
        raise ProofError("consistency proof does not lead to root1")
    if not hmac.compare_digest(sr, root2):
        raise ProofError("consistency proof does not lead to root2")
