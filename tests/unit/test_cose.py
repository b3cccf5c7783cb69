"""COSE_Sign1 and the strict CBOR subset under it (vconstore_client.transparency.cose)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vconstore.ledger.signing import SigningKey, encode_sign1, sign1
from vconstore_client.transparency.cose import (
    ALG,
    ALG_ES256,
    CWT_CLAIMS,
    CWT_ISS,
    KID,
    MAX_SIGN1_BYTES,
    VDP,
    VDP_CONSISTENCY,
    VDP_INCLUSION,
    VDS,
    Sign1,
    decode_cbor,
    decode_sign1,
    encode_cbor,
    sig_structure,
    verify_es256,
)
from vconstore_client.transparency.errors import FormatError, SignatureError

VECTORS = Path("/work/shared/vectors/merkle-rfc6962.json")
KEY = SigningKey.generate()


def _vector_receipts() -> list[dict[str, Any]]:
    if not VECTORS.exists():
        return []
    receipts: list[dict[str, Any]] = json.loads(VECTORS.read_text())["cose_receipts"]
    return receipts


def _signed(payload: bytes | None = b"hello", extra: dict[Any, Any] | None = None) -> bytes:
    protected: dict[int | str, Any] = {ALG: ALG_ES256, KID: KEY.kid, **(extra or {})}
    if payload is None:
        protected_bytes, signature = sign1(KEY, protected, None, detached_payload=b"root")
    else:
        protected_bytes, signature = sign1(KEY, protected, payload)
    return encode_sign1(protected_bytes, {}, payload, signature)


# --- the RFC 9942 example receipts ------------------------------------------------------


@pytest.mark.skipif(not VECTORS.exists(), reason="shared vector file not present")
@pytest.mark.parametrize("vector", _vector_receipts(), ids=lambda v: v["id"])
def test_rfc9942_example_receipts_decode_to_the_expected_values(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["cbor_hex"])
    expect = vector["expect"]
    assert data[0] == 0xC0 | expect["cose_tag"]
    message = decode_sign1(data)
    assert message.protected[ALG] == expect["alg"]
    assert message.protected[VDS] == expect["vds"]
    assert message.protected[KID] == expect["kid_utf8"].encode()
    assert message.protected[CWT_CLAIMS][CWT_ISS] == expect["cwt_iss"]
    assert (message.payload is None) is expect["payload_detached"]
    assert len(message.signature) == expect["signature_len"]
    proofs = message.unprotected[VDP]
    assert list(proofs) == [expect["label"]]
    [proof_bytes] = proofs[expect["label"]]
    first, second, path = decode_cbor(proof_bytes)
    if expect["proof_type"] == "inclusion":
        assert expect["label"] == VDP_INCLUSION
        assert (first, second) == (expect["tree_size"], expect["leaf_index"])
    else:
        assert expect["label"] == VDP_CONSISTENCY
        assert (first, second) == (expect["tree_size_1"], expect["tree_size_2"])
    assert len(path) == expect["path_len"]
    assert all(isinstance(h, bytes) and len(h) == 32 for h in path)
    # The example's protected map is not in deterministic order (395 before 15):
    # the decoder keeps the bytes as received, which is what was signed.
    assert encode_cbor(message.protected) != message.protected_bytes
    assert message.protected_bytes == data[4 : 4 + len(message.protected_bytes)]
    # The rest is in preferred serialization: re-encoding gives the same bytes.
    assert (
        b"\xd2"
        + encode_cbor([message.protected_bytes, message.unprotected, None, message.signature])
        == data
    )
    # cbor2 agrees on the structure.
    decoded = cbor2.loads(data)
    assert decoded.tag == 18
    assert cbor2.loads(decoded.value[0]) == message.protected


# --- encoding ---------------------------------------------------------------------------

# RFC 8949 Appendix A examples within the subset.
APPENDIX_A = [
    (0, "00"),
    (1, "01"),
    (23, "17"),
    (24, "1818"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        "a56161614161626142616361436164614461656145",
    ),
]


@pytest.mark.parametrize(("value", "hex_"), APPENDIX_A)
def test_rfc8949_appendix_a_examples(value: Any, hex_: str) -> None:
    assert encode_cbor(value).hex() == hex_
    assert decode_cbor(bytes.fromhex(hex_)) == value


def test_map_keys_sort_bytewise_as_rfc8949_4_2_1_not_length_first() -> None:
    # 100 encodes as 18 64, -1 as 20: bytewise 100 first; cbor2's canonical=True
    # (length-first, RFC 7049) puts -1 first.
    assert encode_cbor({-1: 0, 100: 0}).hex() == "a21864002000"
    assert cbor2.dumps({-1: 0, 100: 0}, canonical=True).hex() == "a22000186400"
    # RFC 8949 4.2.1's own example order: 10, 100, -1, "z", "aa" (bytewise).
    ordered = list(decode_cbor(encode_cbor({"aa": 0, "z": 0, -1: 0, 100: 0, 10: 0})))
    assert ordered == [10, 100, -1, "z", "aa"]
    ordered = list(cbor2.loads(encode_cbor({"aa": 0, -1: 0, 100: 0, 10: 0})))
    assert ordered == [10, 100, -1, "aa"]


def test_encoding_refuses_what_the_subset_lacks() -> None:
    for value in (1.5, {1, 2}, object(), 1 << 64, -(1 << 64) - 1):
        with pytest.raises((TypeError, ValueError)):
            encode_cbor(value)


def test_sig_structure_bytes() -> None:
    # ["Signature1", h'a10126', h'', h'7061796c6f6164']
    assert sig_structure(b"\xa1\x01\x26", b"payload").hex() == (
        "84" + "6a" + b"Signature1".hex() + "43a10126" + "40" + "47" + b"payload".hex()
    )
    assert sig_structure(b"", b"", b"aad").hex().endswith("40" + "43616164" + "40")


_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 64), max_value=(1 << 64) - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
)
_values = st.recursive(
    _json_leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.integers(-(1 << 20), 1 << 20) | st.text(max_size=8), children, max_size=5
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_encode_decode_round_trip_and_cbor2_agrees(value: Any) -> None:
    encoded = encode_cbor(value)
    assert decode_cbor(encoded) == value
    assert cbor2.loads(encoded) == value
    # Deterministic: encoding what was decoded gives the same bytes.
    assert encode_cbor(cbor2.loads(encoded)) == encoded


# --- strict decoding --------------------------------------------------------------------

HOSTILE_CBOR = {
    "indefinite array": "9f01ff",
    "indefinite map": "bf0101ff",
    "indefinite bytes": "5f4101ff",
    "indefinite text": "7f6161ff",
    "non-shortest integer": "1817",
    "non-shortest 16-bit": "190017",
    "non-shortest 32-bit": "1a0000ffff",
    "non-shortest 64-bit": "1b00000000ffffffff",
    "non-shortest length": "580100",
    "half float": "f93c00",
    "double": "fb3ff0000000000000",
    "undefined": "f7",
    "simple value": "f0",
    "simple value 24": "f820",
    "break": "ff",
    "reserved info": "1c",
    "tag": "c074323031332d30332d32315432303a30343a30305a",
    "bignum tag": "c249010000000000000000",
    "duplicate key": "a201010102",
    "duplicate text key": "a2616101616102",
    "bytes key": "a14001",
    "array key": "a1800102",
    "bool key": "a1f401",
    "trailing bytes": "0101",
    "truncated": "4401",
    "truncated array": "830102",
    "huge array claim": "9bffffffffffffffff",
    "huge map claim": "bbffffffffffffffff",
    "huge bytes claim": "5bffffffffffffffff",
    "invalid UTF-8": "62c328",
    "surrogate in UTF-8": "63eda080",
    "empty": "",
    "too deep": "81" * 17 + "01",
}


@pytest.mark.parametrize("hex_", HOSTILE_CBOR.values(), ids=HOSTILE_CBOR.keys())
def test_decoder_refuses_outside_the_subset(hex_: str) -> None:
    with pytest.raises(FormatError):
        decode_cbor(bytes.fromhex(hex_))


def test_depth_sixteen_is_fine() -> None:
    assert decode_cbor(bytes.fromhex("81" * 16 + "01")) is not None


def _sign1_hex(protected: str, unprotected: str, payload: str, signature: str) -> bytes:
    return bytes.fromhex("d284" + protected + unprotected + payload + signature)


SIG64 = "5840" + "00" * 64
HOSTILE_SIGN1 = {
    "untagged": bytes.fromhex("8443a10126a0f6" + SIG64),
    "wrong tag": bytes.fromhex("d18443a10126a0f6" + SIG64),
    "tag 18 twice": bytes.fromhex("d2d28443a10126a0f6" + SIG64),
    "three items": bytes.fromhex("d28343a10126a0f6"),
    "five items": bytes.fromhex("d28543a10126a0f6" + SIG64 + "00"),
    "not an array": bytes.fromhex("d2a0"),
    "protected not bstr": _sign1_hex("a10126", "a0", "f6", SIG64),
    "protected holds an int": _sign1_hex("4101", "a0", "f6", SIG64),
    "protected holds trailing bytes": _sign1_hex("44a1012600", "a0", "f6", SIG64),
    "protected holds a duplicate": _sign1_hex("45a201260126", "a0", "f6", SIG64),
    "unprotected not a map": _sign1_hex("43a10126", "80", "f6", SIG64),
    "payload an int": _sign1_hex("43a10126", "a0", "01", SIG64),
    "payload text": _sign1_hex("43a10126", "a0", "6161", SIG64),
    "signature text": _sign1_hex("43a10126", "a0", "f6", "6161"),
    "label in both headers": _sign1_hex("43a10126", "a10126", "f6", SIG64),
    "trailing bytes": _sign1_hex("43a10126", "a0", "f6", SIG64 + "00"),
    "oversized": b"\xd2\x84\x40\xa0\x5a"
    + (MAX_SIGN1_BYTES).to_bytes(4, "big")
    + bytes(MAX_SIGN1_BYTES)
    + b"\x40",
    "empty": b"",
}


@pytest.mark.parametrize("data", HOSTILE_SIGN1.values(), ids=HOSTILE_SIGN1.keys())
def test_decode_sign1_refuses(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode_sign1(data)


def test_decode_sign1_accepts_empty_protected_forms() -> None:
    for protected in ("40", "41a0"):
        message = decode_sign1(_sign1_hex(protected, "a0", "f6", "40"))
        assert message.protected == {}
        assert message.payload is None


def _assert_only_format_errors(data: bytes) -> None:
    try:
        message = decode_sign1(data)
    except FormatError:
        return
    assert isinstance(message, Sign1)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_format_error(data: bytes) -> None:
    _assert_only_format_errors(data)
    _assert_only_format_errors(b"\xd2" + data)
    _assert_only_format_errors(b"\xd2\x84" + data)


VALID = _signed(b"payload", {CWT_CLAIMS: {CWT_ISS: "issuer", 2: "subject", 6: 1}})


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_valid_messages_raise_only_format_error(data: st.DataObject) -> None:
    mutated = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not mutated:
            break
        at = data.draw(st.integers(0, len(mutated) - 1))
        if action == "flip":
            mutated[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set":
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=9))
        elif action == "delete":
            del mutated[at : at + data.draw(st.integers(1, 9))]
        else:
            del mutated[at:]
    _assert_only_format_errors(bytes(mutated))


@settings(max_examples=500, deadline=None)
@given(_values, _values, _values, _values)
def test_fuzz_structured_messages_raise_only_format_error(a: Any, b: Any, c: Any, d: Any) -> None:
    # Arbitrary CBOR values (written by cbor2, not by us) in the four slots.
    _assert_only_format_errors(cbor2.dumps(cbor2.CBORTag(18, [a, b, c, d])))
    _assert_only_format_errors(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(a), b, c, d])))


# --- round trips and signatures ---------------------------------------------------------


def test_sign1_round_trip() -> None:
    message = decode_sign1(VALID)
    assert message.protected[ALG] == ALG_ES256
    assert message.protected[KID] == KEY.kid
    assert message.protected[CWT_CLAIMS] == {1: "issuer", 2: "subject", 6: 1}
    assert message.unprotected == {}
    assert message.payload == b"payload"
    assert len(message.signature) == 64
    assert (
        encode_sign1(
            message.protected_bytes, message.unprotected, message.payload, message.signature
        )
        == VALID
    )
    verify_es256(KEY.public_key, message)


def test_verify_es256_detached_payload() -> None:
    message = decode_sign1(_signed(None))
    verify_es256(KEY.public_key, message, detached_payload=b"root")
    with pytest.raises(SignatureError):
        verify_es256(KEY.public_key, message, detached_payload=b"other root")
    with pytest.raises(SignatureError, match="detached"):
        verify_es256(KEY.public_key, message)
    with pytest.raises(SignatureError, match="attached"):
        verify_es256(KEY.public_key, decode_sign1(VALID), detached_payload=b"payload")


def test_verify_es256_refusals() -> None:
    message = decode_sign1(VALID)
    with pytest.raises(SignatureError):
        verify_es256(SigningKey.generate().public_key, message)
    with pytest.raises(SignatureError, match="P-256"):
        verify_es256(ec.generate_private_key(ec.SECP384R1()).public_key(), message)
    short = Sign1(message.protected_bytes, message.protected, {}, message.payload, b"\x00" * 63)
    with pytest.raises(SignatureError, match="64 bytes"):
        verify_es256(KEY.public_key, short)
    zero = Sign1(message.protected_bytes, message.protected, {}, message.payload, b"\x00" * 64)
    with pytest.raises(SignatureError):
        verify_es256(KEY.public_key, zero)
    no_alg = Sign1(message.protected_bytes, {}, {}, message.payload, message.signature)
    with pytest.raises(SignatureError, match="ES256"):
        verify_es256(KEY.public_key, no_alg)
    # The same signature with the protected bytes changed.
    other = decode_sign1(_signed(b"payload", {CWT_CLAIMS: {CWT_ISS: "issuer", 2: "x", 6: 1}}))
    forged = Sign1(other.protected_bytes, other.protected, {}, message.payload, message.signature)
    with pytest.raises(SignatureError):
        verify_es256(KEY.public_key, forged)


def test_every_bit_flip_of_a_signed_message_is_refused() -> None:
    for at in range(len(VALID)):
        for bit in range(8):
            mutated = bytearray(VALID)
            mutated[at] ^= 1 << bit
            with pytest.raises((FormatError, SignatureError)):
                verify_es256(KEY.public_key, decode_sign1(bytes(mutated)))
