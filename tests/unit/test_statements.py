"""Signed statements (vconstore.ledger.statements): format, parsing, issuer trust."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from vconstore.ledger.errors import StatementMalformed, StatementRejected
from vconstore.ledger.signing import SigningKey, encode_sign1
from vconstore.ledger.statements import (
    OPERATIONS,
    IssuerTrust,
    OperationRecord,
    content_hash_of,
    format_issued_at,
    make_statement,
    org_pseudonym,
    parse_statement,
)
from vconstore_client.transparency.cose import decode_sign1, encode_cbor, sig_structure

ISSUER = "store.example"
KEY = SigningKey.generate()
UUID = "018f0000-0000-7000-8000-00000000000a"
PARENT = "018f0000-0000-7000-8000-00000000000b"
AT = datetime(2026, 11, 25, 14, 0, 0, 123456, tzinfo=UTC)
RECORD = OperationRecord(
    operation="register",
    vcon_uuid=UUID,
    org=org_pseudonym(b"k" * 32, "Example Org"),
    content_hash=content_hash_of(b"{}"),
    issued_at=AT,
)
IAT = int(AT.timestamp())
TRUST = IssuerTrust([(ISSUER, KEY.public_key)])


def members(record: OperationRecord = RECORD) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operation": record.operation,
        "vcon_uuid": record.vcon_uuid,
        "org": record.org,
        "content_hash": record.content_hash,
        "issued_at": "2026-11-25T14:00:00.123456Z",
    }
    if record.parent_uuid is not None:
        result["parent_uuid"] = record.parent_uuid
    return result


def protected(**changes: Any) -> dict[Any, Any]:
    header: dict[Any, Any] = {
        1: -7,
        3: "application/json",
        4: KEY.kid,
        15: {1: ISSUER, 2: UUID, 6: IAT},
    }
    for name, value in changes.items():
        label = {"alg": 1, "ct": 3, "kid": 4, "cwt": 15}[name]
        if value is None:
            header.pop(label)
        else:
            header[label] = value
    return header


def forge(
    header: dict[Any, Any] | None = None,
    payload: bytes | None = None,
    *,
    unprotected: dict[Any, Any] | None = None,
    key: SigningKey = KEY,
) -> bytes:
    """A statement as anyone could write it, signed but unchecked."""
    header = protected() if header is None else header
    payload = rfc8785.dumps(members()) if payload is None else payload
    protected_bytes = encode_cbor(header)
    signature = key.sign(sig_structure(protected_bytes, payload))
    return encode_sign1(protected_bytes, unprotected or {}, payload, signature)


# --- round trip -------------------------------------------------------------------------


def test_a_statement_without_content_type_is_accepted() -> None:
    """The header the issue lists (alg, kid, CWT claims) is enough."""
    parsed = parse_statement(forge(protected(ct=None)))
    assert parsed.record.operation == "register"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_round_trip(operation: str) -> None:
    record = replace(
        RECORD, operation=operation, parent_uuid=PARENT if operation == "redact" else None
    )
    raw = make_statement(record, KEY, ISSUER)
    statement = parse_statement(raw)
    assert statement.raw == raw
    assert statement.kid == KEY.kid
    assert statement.issuer == ISSUER
    assert statement.subject == UUID
    assert statement.issued_at == int(AT.timestamp())
    assert statement.record == record
    TRUST.verify(statement)
    # The payload is exactly the RFC 8785 form of the record, nothing else.
    payload = decode_sign1(raw).payload
    assert payload == rfc8785.dumps(members(record))
    assert json.loads(payload or b"") == members(record)


def test_statement_layout() -> None:
    raw = make_statement(RECORD, KEY, ISSUER)
    message = decode_sign1(raw)
    assert message.protected == protected()
    assert message.protected_bytes == encode_cbor(protected())  # deterministic CBOR
    assert message.unprotected == {}
    assert raw[:1] == b"\xd2"
    assert len(raw) < 600


def test_issued_at_in_another_zone_is_written_in_utc() -> None:
    east = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    statement = parse_statement(make_statement(replace(RECORD, issued_at=east), KEY, ISSUER))
    assert statement.record.issued_at == AT
    assert statement.record.issued_at.tzinfo == UTC


def test_issued_at_is_written_with_microseconds_and_z() -> None:
    assert format_issued_at(AT) == "2026-11-25T14:00:00.123456Z"
    assert format_issued_at(datetime(2026, 11, 25, 14, tzinfo=UTC)) == "2026-11-25T14:00:00.000000Z"
    assert format_issued_at(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"
    early = replace(RECORD, issued_at=datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC))
    statement = parse_statement(make_statement(early, KEY, ISSUER))
    assert statement.issued_at == -1
    assert statement.record == early


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T14:00:00Z", datetime(2026, 11, 25, 14, tzinfo=UTC)),
        ("2026-11-25T14:00:00.1Z", datetime(2026, 11, 25, 14, 0, 0, 100000, tzinfo=UTC)),
        ("2026-11-25T14:00:00.000001Z", datetime(2026, 11, 25, 14, 0, 0, 1, tzinfo=UTC)),
    ],
)
def test_issued_at_forms_read(text: str, expected: datetime) -> None:
    payload = rfc8785.dumps({**members(), "issued_at": text})
    header = protected(cwt={1: ISSUER, 2: UUID, 6: int(expected.timestamp())})
    assert parse_statement(forge(header, payload)).record.issued_at == expected


def test_make_statement_refuses_an_off_format_record() -> None:
    for bad, reason in [
        (replace(RECORD, operation="create"), "operation"),
        (replace(RECORD, vcon_uuid=UUID.upper()), "vcon_uuid"),
        (replace(RECORD, org="Example Org"), "org"),
        (replace(RECORD, content_hash="sha256:" + "A" * 64), "content_hash"),
        (replace(RECORD, operation="redact"), "parent_uuid is required"),
        (replace(RECORD, parent_uuid=PARENT), "not allowed"),
        (replace(RECORD, issued_at=datetime(2026, 11, 25)), "timezone"),
    ]:
        with pytest.raises(ValueError, match=reason):
            make_statement(bad, KEY, ISSUER)
    with pytest.raises(ValueError, match="issuer"):
        make_statement(RECORD, KEY, "")


# --- malformed statements ---------------------------------------------------------------


def _payload(**changes: Any) -> bytes:
    value = members()
    for name, member in changes.items():
        if member is None:
            value.pop(name)
        else:
            value[name] = member
    return rfc8785.dumps(value)


CANONICAL = rfc8785.dumps(members())
MALFORMED: dict[str, tuple[bytes, str]] = {
    "not COSE": (b"not cbor", "not a COSE_Sign1"),
    "untagged": (forge()[1:], "not a COSE_Sign1"),
    "unprotected header": (forge(unprotected={33: b"x"}), "unprotected header is not empty"),
    "no alg": (forge(protected(alg=None)), "alg is not ES256"),
    "EdDSA": (forge(protected(alg=-8)), "alg is not ES256"),
    "CBOR content": (forge(protected(ct="application/cbor")), "content type"),
    "no kid": (forge(protected(kid=None)), "protected header has no kid"),
    "short kid": (forge(protected(kid=b"k" * 31)), "kid is not a 32-byte"),
    "text kid": (forge(protected(kid="k" * 32)), "kid is not a 32-byte"),
    "no CWT claims": (forge(protected(cwt=None)), "protected header has no CWT claims"),
    "CWT claims not a map": (forge(protected(cwt=[1])), "CWT claims are not a map"),
    "extra label": (forge({**protected(), 33: b"x"}), "protected header label 33 is not allowed"),
    "no iss": (forge(protected(cwt={2: UUID, 6: IAT})), "CWT claims have no iss"),
    "empty iss": (forge(protected(cwt={1: "", 2: UUID, 6: IAT})), "no iss"),
    "no sub": (forge(protected(cwt={1: ISSUER, 6: IAT})), "CWT claims have no sub"),
    "no iat": (forge(protected(cwt={1: ISSUER, 2: UUID})), "integer iat"),
    "text iat": (forge(protected(cwt={1: ISSUER, 2: UUID, 6: "1"})), "integer iat"),
    "extra claim": (
        forge(protected(cwt={1: ISSUER, 2: UUID, 6: IAT, 4: 1})),
        "CWT claim 4 is not allowed",
    ),
    "sub mismatch": (
        forge(protected(cwt={1: ISSUER, 2: PARENT, 6: IAT})),
        "CWT sub is not the payload's vcon_uuid",
    ),
    "iat mismatch": (
        forge(protected(cwt={1: ISSUER, 2: UUID, 6: IAT + 1})),
        "CWT iat is not the whole seconds",
    ),
    "detached payload": (
        encode_sign1(encode_cbor(protected()), {}, None, bytes(64)),
        "payload is detached",
    ),
    "not JSON": (forge(payload=b"operation=register"), "payload is not JSON"),
    "not UTF-8": (forge(payload=b'"\xff"'), "payload is not JSON"),
    "JSON array": (forge(payload=b"[]"), "payload is not a JSON object"),
    "NaN": (forge(payload=b'{"a":NaN}'), "not JSON"),
    "duplicate member": (
        forge(payload=CANONICAL[:-1] + b',"org":"x"}'),
        "payload has duplicate member 'org'",
    ),
    "not canonical (spaces)": (
        forge(payload=json.dumps(members(), sort_keys=True).encode()),
        "not RFC 8785 canonical",
    ),
    "not canonical (order)": (
        forge(payload=json.dumps(members(), separators=(",", ":")).encode()),
        "not RFC 8785 canonical",
    ),
    "not canonical (escape)": (
        forge(payload=CANONICAL.replace(b'"register"', b'"regist\\u0065r"')),
        "not RFC 8785 canonical",
    ),
    "unknown member": (
        forge(payload=_payload(name="Alice")),
        "payload member 'name' is not allowed",
    ),
    "missing member": (forge(payload=_payload(org=None)), "payload member 'org' is missing"),
    "number member": (forge(payload=_payload(org=1)), "payload member 'org' is not a string"),
    "null parent": (
        forge(payload=rfc8785.dumps({**members(), "parent_uuid": None})),
        "payload member 'parent_uuid' is not a string",
    ),
    "bad operation": (forge(payload=_payload(operation="create")), "payload operation 'create'"),
    "upper-case uuid": (forge(payload=_payload(vcon_uuid=UUID.upper())), "vcon_uuid is not"),
    "short org": (forge(payload=_payload(org="ab" * 31)), "payload org is not 64"),
    "org name": (forge(payload=_payload(org="Example Org")), "payload org is not 64"),
    "bad content hash": (
        forge(payload=_payload(content_hash="sha1:" + "a" * 40)),
        "payload content_hash is not",
    ),
    "parent without redact": (
        forge(payload=_payload(parent_uuid=PARENT)),
        "payload member 'parent_uuid' is not allowed for register",
    ),
    "redact without parent": (
        forge(payload=_payload(operation="redact")),
        "payload parent_uuid is required for redact",
    ),
    "bad parent": (
        forge(payload=_payload(operation="redact", parent_uuid="x")),
        "payload parent_uuid is not",
    ),
    "offset time": (
        forge(payload=_payload(issued_at="2026-11-25T14:00:00.123456+00:00")),
        "issued_at is not an RFC 3339 UTC time",
    ),
    "no zone": (
        forge(payload=_payload(issued_at="2026-11-25T14:00:00.123456")),
        "issued_at is not",
    ),
    "nanoseconds": (
        forge(payload=_payload(issued_at="2026-11-25T14:00:00.123456789Z")),
        "issued_at is not",
    ),
    "impossible date": (
        forge(payload=_payload(issued_at="2026-02-30T14:00:00Z")),
        "issued_at is not",
    ),
    "lower-case z": (
        forge(payload=_payload(issued_at="2026-11-25t14:00:00z")),
        "issued_at is not",
    ),
}


@pytest.mark.parametrize(("raw", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_statements_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(StatementMalformed) as refused:
        parse_statement(raw)
    assert reason in refused.value.reason


VALID = make_statement(RECORD, KEY, ISSUER)


def _mutate(raw: bytes, at: int, value: int) -> bytes:
    mutated = bytearray(raw)
    mutated[at % len(mutated)] = value
    return bytes(mutated)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 470), st.integers(0, 255))
def test_hostile_bytes_raise_only_statement_malformed(data: bytes, at: int, value: int) -> None:
    for raw in (data, b"\xd2" + data, _mutate(VALID, at, value)):
        with contextlib.suppress(StatementMalformed):
            parse_statement(raw)


# --- issuer trust -----------------------------------------------------------------------


def test_untrusted_kid_is_rejected() -> None:
    other = SigningKey.generate()
    statement = parse_statement(make_statement(RECORD, other, ISSUER))
    with pytest.raises(StatementRejected) as rejected:
        TRUST.verify(statement)
    assert rejected.value.reason == f"issuer key {other.kid_text} is not trusted"


def test_bad_signature_is_rejected() -> None:
    raw = bytearray(VALID)
    raw[-1] ^= 1
    statement = parse_statement(bytes(raw))
    with pytest.raises(StatementRejected) as rejected:
        TRUST.verify(statement)
    assert rejected.value.reason == "issuer signature does not verify"
    # Signed by another key that claims the trusted kid.
    forged = parse_statement(forge(key=SigningKey.generate()))
    assert forged.kid == KEY.kid
    with pytest.raises(StatementRejected, match="does not verify"):
        TRUST.verify(forged)


def test_wrong_issuer_name_is_rejected() -> None:
    statement = parse_statement(make_statement(RECORD, KEY, "someone.else"))
    with pytest.raises(StatementRejected) as rejected:
        TRUST.verify(statement)
    assert rejected.value.reason == "issuer name 'someone.else' does not match the trusted key"


def test_an_issuer_may_have_several_keys_but_a_key_one_issuer() -> None:
    rotated = SigningKey.generate()
    trust = IssuerTrust([(ISSUER, KEY.public_key), (ISSUER, rotated.public_key)])
    trust.verify(parse_statement(make_statement(RECORD, rotated, ISSUER)))
    trust.verify(parse_statement(VALID))
    assert trust.kids == {KEY.kid, rotated.kid}
    with pytest.raises(ValueError, match="trusted for both"):
        IssuerTrust([(ISSUER, KEY.public_key), ("other", KEY.public_key)])
    with pytest.raises(ValueError):
        IssuerTrust([("", KEY.public_key)])


def test_verification_from_worker_threads() -> None:
    statements = [
        parse_statement(
            make_statement(replace(RECORD, issued_at=AT + timedelta(seconds=i)), KEY, ISSUER)
        )
        for i in range(40)
    ]
    bad = parse_statement(forge(key=SigningKey.generate()))

    def check(i: int) -> bool:
        TRUST.verify(statements[i % len(statements)])
        try:
            TRUST.verify(bad)
        except StatementRejected:
            return True
        return False

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(check, range(400)))


# --- the pseudonym and the content hash -------------------------------------------------


def test_org_pseudonym_is_keyed_hmac_sha256_hex() -> None:
    # RFC 4231 test case 2.
    assert org_pseudonym(b"Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    value = org_pseudonym(b"secret" * 4, "Exämple Org")
    assert value == hmac.new(b"secret" * 4, "Exämple Org".encode(), hashlib.sha256).hexdigest()
    assert len(value) == 64 and value == value.lower()
    assert org_pseudonym(b"another" * 4, "Exämple Org") != value
    with pytest.raises(ValueError):
        org_pseudonym(b"", "Example Org")


def test_content_hash_format() -> None:
    assert content_hash_of(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert (
        content_hash_of(b'{"vcon":"0.4.0"}')
        == "sha256:" + hashlib.sha256(b'{"vcon":"0.4.0"}').hexdigest()
    )


_HEX = "0123456789abcdef"


@settings(max_examples=200, deadline=None)
@given(
    operation=st.sampled_from(sorted(OPERATIONS)),
    uuid=st.uuids().map(str),
    org=st.text(_HEX, min_size=64, max_size=64),
    digest=st.text(_HEX, min_size=64, max_size=64),
    issued_at=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ),
    issuer=st.text(min_size=1, max_size=300),
)
def test_statements_are_exactly_the_generic_deterministic_encoding(
    operation: str, uuid: str, org: str, digest: str, issued_at: datetime, issuer: str
) -> None:
    """make_statement writes the fixed layout directly; it must be byte for byte
    what the generic RFC 8949 deterministic encoder and RFC 8785 give."""
    record = OperationRecord(
        operation=operation,
        vcon_uuid=uuid,
        org=org,
        content_hash="sha256:" + digest,
        issued_at=issued_at,
        parent_uuid=PARENT if operation == "redact" else None,
    )
    raw = make_statement(record, KEY, issuer)
    message = decode_sign1(raw)
    since_epoch = issued_at - datetime(1970, 1, 1, tzinfo=UTC)
    claims = {1: issuer, 2: uuid, 6: since_epoch.days * 86400 + since_epoch.seconds}
    expected_protected = encode_cbor({1: -7, 3: "application/json", 4: KEY.kid, 15: claims})
    expected_payload = rfc8785.dumps({**members(record), "issued_at": format_issued_at(issued_at)})
    assert message.protected_bytes == expected_protected
    assert message.payload == expected_payload
    assert raw == encode_sign1(expected_protected, {}, expected_payload, message.signature)
    # ...and the signature over the generic Sig_structure verifies.
    IssuerTrust([(issuer, KEY.public_key)]).verify(parse_statement(raw))
