"""Verify the ledger's RFC 9942 COSE receipts (vds RFC9162_SHA256) offline.

Receipt format (the contract)
-----------------------------
    18([
      protected: bstr .cbor {
        1: -7,                          ; alg ES256
        4: kid,                         ; RFC 9679 thumbprint of the ledger key (32 bytes)
        395: 1,                         ; vds RFC9162_SHA256
        15: {1: iss, 6: iat},           ; CWT claims: the ledger origin, signing time (int s)
        -65537: tree_size,              ; the size the signed root is for
      },
      unprotected: {396: {-1: [bstr .cbor [tree_size, leaf_index, [* bstr]]]}},
      payload: nil,                     ; detached: the RFC 9162 root at tree_size
      signature: bstr,                  ; ES256 r || s over Sig_structure with the root
    ])

The leaf is the signed statement's bytes as registered: leaf hash =
SHA-256(0x00 || statement). The inclusion path runs leaf to root (RFC 9162
Section 2.1.3); it is empty for a one-entry tree. Every receipt of one batch
shares the protected header and the signature; only the path differs.

Verification gives a single result: the root is recomputed from the path
first, then the signature is checked over it (as RFC 9942 asks), so a valid
signature is never accepted over a bad proof. `leaf_index` stays
unsigned (RFC 9942), but with the signed tree size it is bound by the path:
another index at the same size walks to another root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from vconstore_client.transparency import merkle
from vconstore_client.transparency.cose import (
    ALG,
    ALG_ES256,
    CRIT,
    CWT_CLAIMS,
    CWT_IAT,
    CWT_ISS,
    KID,
    TREE_SIZE,
    VDP,
    VDP_INCLUSION,
    VDS,
    VDS_RFC9162_SHA256,
    decode_cbor,
    decode_sign1,
    verify_es256,
)
from vconstore_client.transparency.errors import FormatError, ProofError, SignatureError
from vconstore_client.transparency.keys import cose_key_thumbprint, kid_text

__all__ = ["VerifiedReceipt", "verify_receipt"]

_HASH_BYTES = 32
_MAX_PATH = 64
_MAX_INT = (1 << 63) - 1
_PROTECTED_LABELS = frozenset({ALG, KID, VDS, CWT_CLAIMS, TREE_SIZE, CRIT})
_CLAIMS = frozenset({CWT_ISS, CWT_IAT})


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a valid receipt proves: the leaf is at `leaf_index` in the tree of
    `tree_size` leaves whose root is `root`, signed by key `kid` of the log
    `issuer` at `issued_at` (seconds since the epoch, the CWT iat)."""

    tree_size: int
    leaf_index: int
    root: bytes
    kid: bytes
    issuer: str
    issued_at: int


def _count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
        raise FormatError(f"{what} is not a non-negative integer")
    return value


def _key_for(
    kid: bytes,
    keys: ec.EllipticCurvePublicKey | Mapping[bytes, ec.EllipticCurvePublicKey],
) -> ec.EllipticCurvePublicKey:
    if isinstance(keys, ec.EllipticCurvePublicKey):
        if cose_key_thumbprint(keys) == kid:
            return keys
    else:
        key = keys.get(kid)
        if key is not None:
            return key
    raise SignatureError(f"receipt key {kid_text(kid)} is not a trusted key")


def _inclusion_proof(unprotected: dict[Any, Any]) -> tuple[int, int, list[bytes]]:
    if set(unprotected) != {VDP}:
        raise FormatError("receipt unprotected header must hold vdp (396) and nothing else")
    proofs = unprotected[VDP]
    if not isinstance(proofs, dict) or set(proofs) != {VDP_INCLUSION}:
        raise FormatError("receipt vdp must hold inclusion proofs (-1) and nothing else")
    inclusion = proofs[VDP_INCLUSION]
    if not isinstance(inclusion, list) or len(inclusion) != 1:
        raise FormatError("receipt must hold exactly one inclusion proof")
    if not isinstance(inclusion[0], bytes):
        raise FormatError("inclusion proof is not a byte string")
    try:
        proof = decode_cbor(inclusion[0])
    except FormatError as error:
        raise FormatError(f"inclusion proof: {error}") from None
    if not isinstance(proof, list) or len(proof) != 3:
        raise FormatError("inclusion proof is not [tree_size, leaf_index, path]")
    tree_size = _count(proof[0], "inclusion proof tree_size")
    leaf_index = _count(proof[1], "inclusion proof leaf_index")
    path = proof[2]
    if not isinstance(path, list) or len(path) > _MAX_PATH:
        raise FormatError("inclusion proof path is not an array of at most 64 hashes")
    if not all(isinstance(h, bytes) and len(h) == _HASH_BYTES for h in path):
        raise FormatError("inclusion proof path holds something other than 32-byte hashes")
    return tree_size, leaf_index, path


def verify_receipt(
    receipt: bytes,
    keys: ec.EllipticCurvePublicKey | Mapping[bytes, ec.EllipticCurvePublicKey],
    *,
    leaf_hash: bytes | None = None,
    statement: bytes | None = None,
) -> VerifiedReceipt:
    """Verify a receipt for one leaf, given its leaf hash or the statement bytes
    (exactly one of them), against the ledger's key or keys (a key, or a
    mapping kid -> key). Raises FormatError, SignatureError or ProofError (all
    VerificationError); returns what the receipt proves."""
    if (leaf_hash is None) == (statement is None):
        raise TypeError("pass exactly one of leaf_hash and statement")
    leaf = merkle.leaf_hash(statement) if statement is not None else leaf_hash
    if not isinstance(leaf, bytes) or len(leaf) != _HASH_BYTES:
        raise ValueError("a leaf hash is 32 bytes")

    sign1 = decode_sign1(receipt)
    protected = sign1.protected
    if protected.get(ALG) != ALG_ES256:
        raise FormatError(f"receipt alg is {protected.get(ALG)!r}, expected ES256 (-7)")
    vds = protected.get(VDS)
    if type(vds) is not int or vds != VDS_RFC9162_SHA256:
        raise FormatError(f"receipt vds is {protected.get(VDS)!r}, expected RFC9162_SHA256 (1)")
    unknown = set(protected) - _PROTECTED_LABELS
    if unknown:
        raise FormatError(
            f"receipt protected header has unknown label {sorted(unknown, key=str)[0]!r}"
        )
    crit = protected.get(CRIT, [None])
    if not isinstance(crit, list) or not crit:
        raise FormatError("receipt crit is not a non-empty array of labels")
    if CRIT in protected and not all(type(label) is int or type(label) is str for label in crit):
        raise FormatError("receipt crit holds something that is not a label")
    if CRIT in protected and not all(label in protected for label in crit):
        raise FormatError("receipt crit lists a label that is not in the protected header")
    kid = protected.get(KID)
    if not isinstance(kid, bytes) or not kid:
        raise FormatError("receipt protected header has no kid")
    claims = protected.get(CWT_CLAIMS)
    if not isinstance(claims, dict) or not set(claims) <= _CLAIMS:
        raise FormatError("receipt CWT claims are missing or hold unknown claims")
    issuer = claims.get(CWT_ISS)
    if not isinstance(issuer, str) or not issuer:
        raise FormatError("receipt CWT claims have no iss")
    issued_at = _count(claims.get(CWT_IAT), "receipt CWT iat")
    signed_size = _count(protected.get(TREE_SIZE), "receipt protected tree size")
    if sign1.payload is not None:
        raise FormatError("receipt payload must be detached (nil)")

    key = _key_for(kid, keys)
    tree_size, leaf_index, path = _inclusion_proof(sign1.unprotected)
    if tree_size != signed_size:
        raise ProofError(
            f"the inclusion proof is for tree size {tree_size}, the receipt signs {signed_size}"
        )
    root = merkle.root_from_inclusion_proof(leaf, leaf_index, tree_size, path)
    verify_es256(key, sign1, detached_payload=root)
    return VerifiedReceipt(tree_size, leaf_index, root, kid, issuer, issued_at)
