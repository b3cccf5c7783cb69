"""Signed statements: the COSE_Sign1 an issuer (the vCon store) signs for every
vCon operation, and the ledger registers.

Format (the contract)
---------------------
    18([
      protected: bstr .cbor {
        1: -7,                          ; alg ES256
        3: "application/json",          ; content type (optional; if present, this)
        4: kid,                         ; RFC 9679 thumbprint of the issuer key, 32 bytes
        15: {1: iss, 2: sub, 6: iat},   ; CWT claims: issuer name, vCon uuid, int seconds
      },
      unprotected: {},                  ; must be empty
      payload: bstr,                    ; the operation record, RFC 8785 canonical JSON
      signature: bstr,                  ; ES256 r || s
    ])

Operation record (a JSON object with exactly these members):
    operation     "register" | "amend" | "redact" | "delete"
    vcon_uuid     8-4-4-4-12 lowercase hex; equals the CWT sub
    org           keyed pseudonym of the organisation: lowercase hex of
                  HMAC-SHA256(secret, UTF-8 org name), 64 characters
    content_hash  "sha256:" + 64 lowercase hex (SHA-256 of the vCon's
                  RFC 8785 canonical JSON)
    parent_uuid   present for "redact" only, and required there: the uuid of
                  the vCon it redacts (lowercase 8-4-4-4-12)
    issued_at     RFC 3339 UTC time ending in "Z", e.g.
                  "2026-11-25T14:00:00.123456Z" (written with 6 fractional
                  digits; read with 0 to 6); the CWT iat is its whole seconds
                  since the epoch (rounded down).
No vCon content, no names: only hashes, uuids and the pseudonym enter the log.

The protected header holds exactly the labels above, the CWT claims exactly
those three. Statements are at most 64 KiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from vconstore.domain.canonical import canonical_json
from vconstore.ledger.errors import StatementMalformed, StatementRejected
from vconstore.ledger.signing import SigningKey
from vconstore_client.transparency.cose import (
    ALG,
    ALG_ES256,
    CONTENT_TYPE,
    CWT_CLAIMS,
    CWT_IAT,
    CWT_ISS,
    CWT_SUB,
    KID,
    Sign1,
    decode_sign1,
    encode_cbor,
    verify_es256,
)
from vconstore_client.transparency.errors import FormatError, SignatureError
from vconstore_client.transparency.keys import cose_key_thumbprint, kid_text, require_p256

__all__ = [
    "CONTENT_TYPE_JSON",
    "OPERATIONS",
    "IssuerTrust",
    "OperationRecord",
    "Statement",
    "content_hash_of",
    "format_issued_at",
    "make_statement",
    "org_pseudonym",
    "parse_statement",
]

OPERATIONS = frozenset({"register", "amend", "redact", "delete"})
CONTENT_TYPE_JSON = "application/json"
KID_BYTES = 32

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ORG = re.compile(r"[0-9a-f]{64}")
_CONTENT_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_ISSUED_AT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROTECTED_LABELS = frozenset({ALG, CONTENT_TYPE, KID, CWT_CLAIMS})
_CLAIMS = frozenset({CWT_ISS, CWT_SUB, CWT_IAT})
_REQUIRED_MEMBERS = ("operation", "vcon_uuid", "org", "content_hash", "issued_at")
_MEMBERS = frozenset((*_REQUIRED_MEMBERS, "parent_uuid"))


@dataclass(frozen=True)
class OperationRecord:
    """What a statement says happened to a vCon. `issued_at` is UTC."""

    operation: str
    vcon_uuid: str
    org: str
    content_hash: str
    issued_at: datetime
    parent_uuid: str | None = None


@dataclass(frozen=True)
class Statement:
    """A well-formed signed statement (its issuer signature not yet checked:
    see IssuerTrust). `raw` is the statement exactly as received."""

    raw: bytes
    kid: bytes
    issuer: str
    subject: str
    issued_at: int
    record: OperationRecord
    sign1: Sign1


def org_pseudonym(secret: bytes, org: str) -> str:
    """The organisation's keyed pseudonym: hex HMAC-SHA256(secret, UTF-8 name)."""
    if not secret:
        raise ValueError("the pseudonym secret is empty")
    return hmac.new(secret, org.encode("utf-8"), hashlib.sha256).hexdigest()


def content_hash_of(canonical_json: bytes) -> str:
    """ "sha256:" + lowercase hex SHA-256 of a vCon's canonical JSON bytes."""
    return "sha256:" + hashlib.sha256(canonical_json).hexdigest()


def format_issued_at(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and "Z": 2026-11-25T14:00:00.123456Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _epoch_seconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(seconds=1)


def _parse_issued_at(text: str) -> datetime | None:
    match = _ISSUED_AT.fullmatch(text)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    micros = int((match[2] or "0").ljust(6, "0"))
    return moment.replace(microsecond=micros, tzinfo=UTC)


def _record_problem(record: OperationRecord) -> str | None:
    """Why the record is not one the format allows (None if it is)."""
    if record.operation not in OPERATIONS:
        return (
            f"payload operation {record.operation!r} is not one of {', '.join(sorted(OPERATIONS))}"
        )
    if not isinstance(record.vcon_uuid, str) or _UUID.fullmatch(record.vcon_uuid) is None:
        return "payload vcon_uuid is not a lowercase 8-4-4-4-12 UUID"
    if not isinstance(record.org, str) or _ORG.fullmatch(record.org) is None:
        return "payload org is not 64 lowercase hex digits (a keyed pseudonym)"
    if (
        not isinstance(record.content_hash, str)
        or _CONTENT_HASH.fullmatch(record.content_hash) is None
    ):
        return "payload content_hash is not 'sha256:' and 64 lowercase hex digits"
    if record.operation == "redact":
        if record.parent_uuid is None:
            return "payload parent_uuid is required for redact"
        if not isinstance(record.parent_uuid, str) or _UUID.fullmatch(record.parent_uuid) is None:
            return "payload parent_uuid is not a lowercase 8-4-4-4-12 UUID"
    elif record.parent_uuid is not None:
        return f"payload member 'parent_uuid' is not allowed for {record.operation}"
    return None


def _record_json(record: OperationRecord) -> bytes:
    """The record as RFC 8785 canonical JSON. Every value is checked ASCII with
    nothing to escape (_record_problem ran first, and issued_at is formatted
    here), so the members are written directly, in JCS order (by name)."""
    parent = "" if record.parent_uuid is None else f',"parent_uuid":"{record.parent_uuid}"'
    return (
        f'{{"content_hash":"{record.content_hash}",'
        f'"issued_at":"{format_issued_at(record.issued_at)}",'
        f'"operation":"{record.operation}","org":"{record.org}"{parent},'
        f'"vcon_uuid":"{record.vcon_uuid}"}}'
    ).encode("ascii")


# The fixed structure of a statement is written out, and only its scalars go
# through the generic encoder: a statement is signed for every operation the
# store performs, and mapping and sorting whole headers was ~4x slower.
# tests/unit/test_statements.py checks the bytes equal the generic
# deterministic encoding of the whole.
_PROTECTED_START = (
    b"\xa4"  # map of 4, in deterministic key order 1, 3, 4, 15
    + b"\x01\x26"  # alg: ES256 (-7)
    + b"\x03"
    + encode_cbor(CONTENT_TYPE_JSON)
    + b"\x04"  # kid
)
_SIG_STRUCTURE_START = b"\x84" + encode_cbor("Signature1")  # [context, protected, aad, payload]
_EMPTY_BSTR = b"\x40"
_EMPTY_MAP = b"\xa0"


def make_statement(record: OperationRecord, key: SigningKey, issuer: str) -> bytes:
    """Sign the record as `issuer` (the CWT iss) with `key`: the statement bytes.
    ValueError if the record or the issuer name breaks the format."""
    problem = _record_problem(record)
    if problem is not None:
        raise ValueError(problem)
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("the issuer name is empty")
    if len(key.kid) != KID_BYTES:  # what parse_statement requires
        raise ValueError("the signing key's kid is not a 32-byte thumbprint")
    payload = _record_json(record)
    iat = _epoch_seconds(record.issued_at)
    protected = (
        _PROTECTED_START
        + encode_cbor(key.kid)
        + b"\x0f\xa3\x01"  # CWT claims: a map of 3; iss
        + encode_cbor(issuer)
        + b"\x02"  # sub
        + encode_cbor(record.vcon_uuid)
        + b"\x06"  # iat
        + encode_cbor(iat)
    )
    protected_bstr, payload_bstr = encode_cbor(protected), encode_cbor(payload)
    signature = key.sign(_SIG_STRUCTURE_START + protected_bstr + _EMPTY_BSTR + payload_bstr)
    # Tag 18, then [protected, unprotected {}, payload, signature].
    return b"\xd2\x84" + protected_bstr + _EMPTY_MAP + payload_bstr + encode_cbor(signature)


def _raise_if_duplicated(payload: bytes) -> None:
    """The slow path of a refusal, to name a duplicate member if there is one."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name, member in items:
            if name in seen:
                raise StatementMalformed(f"payload has duplicate member {name[:64]!r}")
            seen[name] = member
        return seen

    with contextlib.suppress(ValueError, RecursionError):
        json.loads(payload, object_pairs_hook=pairs)


def _parse_record(payload: bytes) -> OperationRecord:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise StatementMalformed("payload is not JSON") from None
    if not isinstance(value, dict):
        raise StatementMalformed("payload is not a JSON object")
    for name in value:
        if name not in _MEMBERS:
            raise StatementMalformed(f"payload member {name[:64]!r} is not allowed")
    for name in _REQUIRED_MEMBERS:
        if name not in value:
            raise StatementMalformed(f"payload member {name!r} is missing")
    for name, member in value.items():
        if not isinstance(member, str):
            raise StatementMalformed(f"payload member {name!r} is not a string")
    # Re-encoding must give the very bytes received: this also refuses
    # duplicate members (the parsed object has fewer), which orjson keeps quiet.
    if canonical_json(value) != payload:
        _raise_if_duplicated(payload)
        raise StatementMalformed("payload is not RFC 8785 canonical JSON")
    issued_at = _parse_issued_at(value["issued_at"])
    if issued_at is None:
        raise StatementMalformed("payload issued_at is not an RFC 3339 UTC time ending in 'Z'")
    record = OperationRecord(
        operation=value["operation"],
        vcon_uuid=value["vcon_uuid"],
        org=value["org"],
        content_hash=value["content_hash"],
        issued_at=issued_at,
        parent_uuid=value.get("parent_uuid"),
    )
    problem = _record_problem(record)
    if problem is not None:
        raise StatementMalformed(problem)
    return record


def parse_statement(raw: bytes) -> Statement:
    """Check a statement's format (not its signature); StatementMalformed(reason)
    for anything off-format."""
    try:
        message = decode_sign1(raw)
    except FormatError as error:
        raise StatementMalformed(f"not a COSE_Sign1: {error}") from None
    if message.unprotected:
        raise StatementMalformed("unprotected header is not empty")
    protected = message.protected
    for label in protected:
        if label not in _PROTECTED_LABELS:
            raise StatementMalformed(f"protected header label {label!r} is not allowed")
    if protected.get(ALG) != ALG_ES256:
        raise StatementMalformed("protected header alg is not ES256 (-7)")
    # Optional: the issue that fixed this format lists alg, kid and CWT claims
    # only; we write it, and accept statements without it.
    if protected.get(CONTENT_TYPE, CONTENT_TYPE_JSON) != CONTENT_TYPE_JSON:
        raise StatementMalformed("protected header content type is not application/json")
    kid = protected.get(KID)
    if kid is None:
        raise StatementMalformed("protected header has no kid")
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise StatementMalformed("protected header kid is not a 32-byte key thumbprint")
    claims = protected.get(CWT_CLAIMS)
    if claims is None:
        raise StatementMalformed("protected header has no CWT claims")
    if not isinstance(claims, dict):
        raise StatementMalformed("protected header CWT claims are not a map")
    for claim in claims:
        if claim not in _CLAIMS:
            raise StatementMalformed(f"CWT claim {claim!r} is not allowed")
    issuer = claims.get(CWT_ISS)
    if not isinstance(issuer, str) or not issuer:
        raise StatementMalformed("CWT claims have no iss")
    subject = claims.get(CWT_SUB)
    if not isinstance(subject, str):
        raise StatementMalformed("CWT claims have no sub")
    iat = claims.get(CWT_IAT)
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise StatementMalformed("CWT claims have no integer iat")
    if message.payload is None:
        raise StatementMalformed("payload is detached (nil)")
    record = _parse_record(message.payload)
    if subject != record.vcon_uuid:
        raise StatementMalformed("CWT sub is not the payload's vcon_uuid")
    if iat != _epoch_seconds(record.issued_at):
        raise StatementMalformed("CWT iat is not the whole seconds of the payload's issued_at")
    return Statement(bytes(raw), kid, issuer, subject, iat, record, message)


class IssuerTrust:
    """The issuers whose statements the ledger accepts: (issuer name, P-256
    public key) pairs. A name may have several keys (rotation); a key belongs
    to one name. Immutable, so `verify` may run on any thread."""

    __slots__ = ("_by_kid",)

    def __init__(self, issuers: Iterable[tuple[str, ec.EllipticCurvePublicKey]]) -> None:
        by_kid: dict[bytes, tuple[str, ec.EllipticCurvePublicKey]] = {}
        for name, public_key in issuers:
            if not isinstance(name, str) or not name:
                raise ValueError("a trusted issuer's name is empty")
            key = require_p256(public_key)
            kid = cose_key_thumbprint(key)
            known = by_kid.get(kid)
            if known is not None and known[0] != name:
                raise ValueError(
                    f"key {kid_text(kid)} is trusted for both {known[0]!r} and {name!r}"
                )
            by_kid[kid] = (name, key)
        self._by_kid = MappingProxyType(by_kid)

    def __repr__(self) -> str:
        names = sorted({name for name, _ in self._by_kid.values()})
        return f"IssuerTrust({len(self._by_kid)} keys for {names})"

    @property
    def kids(self) -> frozenset[bytes]:
        return frozenset(self._by_kid)

    def verify(self, statement: Statement) -> None:
        """StatementRejected unless a trusted key of the statement's issuer signed it."""
        trusted = self._by_kid.get(statement.kid)
        if trusted is None:
            raise StatementRejected(f"issuer key {kid_text(statement.kid)} is not trusted")
        name, key = trusted
        if statement.issuer != name:
            raise StatementRejected(
                f"issuer name {statement.issuer[:128]!r} does not match the trusted key"
            )
        try:
            verify_es256(key, statement.sign1)
        except SignatureError:
            raise StatementRejected("issuer signature does not verify") from None
