"""Checking the ledger entries VconService returns (ScittEntry), with the
ledger's public key alone: nothing from the store is trusted."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import ec

from vconstore_client.transparency import VerificationError, VerifiedReceipt, verify_receipt
from vconstore_client.transparency.cose import decode_sign1
from vconstore_client.transparency.merkle import entry_id_of, leaf_hash
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

__all__ = ["verify_scitt_entry"]


def verify_scitt_entry(
    entry: pb.ScittEntry,
    keys: ec.EllipticCurvePublicKey | Mapping[bytes, ec.EllipticCurvePublicKey],
    *,
    uuid: str | None = None,
) -> VerifiedReceipt:
    """What the entry's receipt proves about its statement.

    VerificationError if the entry is not REGISTERED, if its entry_id is not
    its statement's leaf hash, if the statement does not say what the entry
    says (its operation; with `uuid`, that vCon), or if the receipt does not
    verify against the ledger key(s). Pass `uuid` when checking a vCon's
    history: a receipt is only evidence about the vCon its statement names.
    """
    if entry.status != pb.ScittEntry.REGISTERED or not entry.receipt:
        raise VerificationError(f"entry {entry.entry_id} has no receipt yet (still pending)")
    expected = entry_id_of(leaf_hash(entry.signed_statement))
    if entry.entry_id != expected:
        raise VerificationError(
            f"entry_id {entry.entry_id} is not the leaf hash of its statement ({expected})"
        )
    try:
        record = json.loads(decode_sign1(entry.signed_statement).payload or b"")
    except ValueError as error:
        raise VerificationError(f"the statement's payload is not JSON: {error}") from None
    if not isinstance(record, dict) or record.get("operation") != entry.operation:
        raise VerificationError("the statement is not for the operation the entry names")
    if uuid is not None and record.get("vcon_uuid") != uuid.lower():
        raise VerificationError(f"the statement is about another vCon, not {uuid}")
    return verify_receipt(entry.receipt, keys, statement=entry.signed_statement)
