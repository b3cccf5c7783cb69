"""RFC 9942 receipts (vds RFC9162_SHA256): one signature per signed tree head,
shared by every receipt at that size.

The format is documented in vconstore_client.transparency.receipts (the
verifier): protected {1: -7, 4: ledger kid, 395: 1, 15: {1: origin, 6: iat},
-65537: tree_size}, unprotected {396: {-1: [bstr .cbor [tree_size,
leaf_index, path]]}}, payload nil (detached: the root), ES256 r || s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from vconstore.ledger.signing import SigningKey, sign1
from vconstore_client.transparency.cose import (
    ALG,
    ALG_ES256,
    CWT_CLAIMS,
    CWT_IAT,
    CWT_ISS,
    KID,
    TREE_SIZE,
    VDS,
    VDS_RFC9162_SHA256,
    decode_cbor,
    encode_cbor,
)

__all__ = ["ReceiptMaker", "make_receipt", "sign_tree_head"]

_HASH_BYTES = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sign_tree_head(
    key: SigningKey, *, origin: str, size: int, root: bytes, signed_at: datetime
) -> tuple[bytes, bytes]:
    """(receipt protected header bytes, signature over the root) for the tree
    of `size` leaves; store both in the TreeHead. The empty tree's head may be
    signed too, though no receipt can be made from it."""
    if not isinstance(size, int) or size < 0:
        raise ValueError("a tree size is a non-negative integer")
    if len(root) != _HASH_BYTES:
        raise ValueError("a tree root is 32 bytes")
    if not origin:
        raise ValueError("the ledger origin is empty")
    if signed_at.tzinfo is None or signed_at.utcoffset() is None:
        raise ValueError("signed_at must be timezone-aware")
    protected: dict[int | str, Any] = {
        ALG: ALG_ES256,
        KID: key.kid,
        VDS: VDS_RFC9162_SHA256,
        CWT_CLAIMS: {CWT_ISS: origin, CWT_IAT: (signed_at - _EPOCH) // timedelta(seconds=1)},
        TREE_SIZE: size,
    }
    return sign1(key, protected, None, detached_payload=bytes(root))


class ReceiptMaker:
    """Receipts of one signed tree head. Everything but the proof is the same
    for every leaf, so it is encoded once; the per-leaf part is written
    directly (the same deterministic CBOR as encode_cbor writes, checked by a
    test): the sequencer makes one receipt per registered statement."""

    __slots__ = ("_prefix", "_proof_head", "_suffix", "tree_size")

    def __init__(self, receipt_protected: bytes, receipt_signature: bytes, *, tree_size: int):
        protected = decode_cbor(receipt_protected)
        if not isinstance(protected, dict) or protected.get(TREE_SIZE) != tree_size:
            raise ValueError(f"the receipt header is not for tree size {tree_size}")
        self.tree_size = tree_size
        # d2 84: tag 18, array of 4; then the protected bstr; then the
        # unprotected map {396: {-1: [bstr]}} up to the proof's bstr header.
        self._prefix = (
            b"\xd2\x84" + encode_cbor(receipt_protected) + b"\xa1\x19\x01\x8c\xa1\x20\x81"
        )
        self._proof_head = b"\x83" + encode_cbor(tree_size)
        # nil payload (detached root), then the signature bstr.
        self._suffix = b"\xf6" + encode_cbor(receipt_signature)

    def make(self, leaf_index: int, path: Sequence[bytes]) -> bytes:
        if not 0 <= leaf_index < self.tree_size:
            raise ValueError(f"leaf index {leaf_index} is not in a tree of {self.tree_size}")
        parts = [self._proof_head, encode_cbor(leaf_index), _array_head(len(path))]
        for node in path:
            if len(node) != _HASH_BYTES:
                raise ValueError("an inclusion path holds 32-byte hashes")
            parts.append(b"\x58\x20")
            parts.append(bytes(node))
        proof = b"".join(parts)
        return b"".join((self._prefix, _bstr_head(len(proof)), proof, self._suffix))


def _array_head(length: int) -> bytes:
    return bytes((0x80 + length,)) if length < 24 else b"\x98" + bytes((length,))


def _bstr_head(length: int) -> bytes:
    if length < 24:
        return bytes((0x40 + length,))
    if length < 0x100:
        return b"\x58" + bytes((length,))
    return b"\x59" + length.to_bytes(2, "big")


def make_receipt(
    receipt_protected: bytes,
    receipt_signature: bytes,
    *,
    tree_size: int,
    leaf_index: int,
    path: Sequence[bytes],
) -> bytes:
    """The receipt for leaf `leaf_index` at `tree_size`, from the head's
    protected header and signature and the leaf's inclusion path (leaf to
    root; empty for a one-entry tree). ValueError if the head is for another size."""
    maker = ReceiptMaker(receipt_protected, receipt_signature, tree_size=tree_size)
    return maker.make(leaf_index, path)
