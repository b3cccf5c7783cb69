"""Offline verification of the vCon transparency ledger: RFC 9942 COSE receipts
(vds RFC9162_SHA256), RFC 9162 inclusion and consistency proofs, and C2SP
tlog-checkpoint signed notes. Its modules need only `cryptography` and the
standard library: none imports gRPC or cbor2 (vconstore_client/__init__.py,
the parent package, does import the gRPC client when loaded).

    from vconstore_client.transparency import verify_receipt, public_key_from_pem
    key = public_key_from_pem(ledger_public_pem)
    proven = verify_receipt(receipt, key, statement=statement_bytes)

Every failure is a VerificationError (FormatError, ProofError, SignatureError).
"""

from __future__ import annotations

from vconstore_client.transparency import errors
from vconstore_client.transparency.checkpoint import (
    Checkpoint,
    note_key_id,
    note_verifier_key,
    parse_checkpoint,
    verify_checkpoint,
    verify_checkpoint_consistency,
)
from vconstore_client.transparency.cose import Sign1, decode_sign1, verify_es256
from vconstore_client.transparency.errors import (
    FormatError,
    ProofError,
    SignatureError,
    VerificationError,
)
from vconstore_client.transparency.keys import (
    cose_key_thumbprint,
    kid_text,
    public_key_from_jwk,
    public_key_from_pem,
    public_key_to_jwk,
)
from vconstore_client.transparency.merkle import (
    entry_id_of,
    leaf_hash,
    root_from_inclusion_proof,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from vconstore_client.transparency.receipts import VerifiedReceipt, verify_receipt

__all__ = [
    "Checkpoint",
    "FormatError",
    "ProofError",
    "Sign1",
    "SignatureError",
    "VerificationError",
    "VerifiedReceipt",
    "cose_key_thumbprint",
    "decode_sign1",
    "entry_id_of",
    "errors",
    "kid_text",
    "leaf_hash",
    "note_key_id",
    "note_verifier_key",
    "parse_checkpoint",
    "public_key_from_jwk",
    "public_key_from_pem",
    "public_key_to_jwk",
    "root_from_inclusion_proof",
    "verify_checkpoint",
    "verify_checkpoint_consistency",
    "verify_consistency_proof",
    "verify_es256",
    "verify_inclusion_proof",
    "verify_receipt",
]
