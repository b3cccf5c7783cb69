"""RFC 9942 receipts: written by the ledger (vconstore.ledger.receipts), verified
by the client (vconstore_client.transparency.receipts) with only the public
key, and cross-checked with pycose, an independent COSE implementation."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycose.keys.ec2 import EC2Key
from pycose.messages.sign1message import Sign1Message

from vconstore.ledger.receipts import make_receipt, sign_tree_head
from vconstore.ledger.signing import SigningKey, encode_sign1, sign1
from vconstore.ledger.statements import OperationRecord, make_statement
from vconstore_client.transparency import merkle
from vconstore_client.transparency.cose import (
    ALG,
    ALG_ES256,
    CWT_CLAIMS,
    CWT_IAT,
    CWT_ISS,
    KID,
    TREE_SIZE,
    VDP,
    VDP_CONSISTENCY,
    VDP_INCLUSION,
    VDS,
    decode_cbor,
    decode_sign1,
    encode_cbor,
)
from vconstore_client.transparency.errors import (
    FormatError,
    ProofError,
    SignatureError,
    VerificationError,
)
from vconstore_client.transparency.receipts import VerifiedReceipt, verify_receipt

ORIGIN = "ledger.example/vcons"
SIGNED_AT = datetime(2026, 11, 25, 14, 0, 0, 123456, tzinfo=UTC)
LEDGER = SigningKey.generate()
ISSUER = SigningKey.generate()


# --- a naive RFC 9162 tree, independent of the ledger's own tree code -------------------


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH over the leaves' data."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _largest_power_of_two_below(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = _largest_power_of_two_below(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def statement(i: int) -> bytes:
    record = OperationRecord(
        operation="register",
        vcon_uuid=f"018f0000-0000-7000-8000-{i:012x}",
        org="ab" * 32,
        content_hash="sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
        issued_at=SIGNED_AT,
    )
    return make_statement(record, ISSUER, "store.example")


STATEMENTS = [statement(i) for i in range(12)]


def head(size: int, key: SigningKey = LEDGER) -> tuple[bytes, bytes]:
    return sign_tree_head(
        key, origin=ORIGIN, size=size, root=mth(STATEMENTS[:size]), signed_at=SIGNED_AT
    )


def receipt(size: int, index: int, key: SigningKey = LEDGER) -> bytes:
    protected, signature = head(size, key)
    return make_receipt(
        protected,
        signature,
        tree_size=size,
        leaf_index=index,
        path=path(index, STATEMENTS[:size]),
    )


def rebuild(
    data: bytes,
    *,
    protected: dict[Any, Any] | None = None,
    unprotected: dict[Any, Any] | None = None,
    sign_with: SigningKey | None = None,
    root: bytes | None = None,
) -> bytes:
    """The receipt with its headers replaced (re-signed over `root` if asked)."""
    message = decode_sign1(data)
    protected_bytes, signature = message.protected_bytes, message.signature
    if protected is not None:
        protected_bytes = encode_cbor(protected)
    if sign_with is not None:
        assert root is not None
        protected_bytes, signature = sign1(
            sign_with, protected or message.protected, None, detached_payload=root
        )
    return encode_sign1(
        protected_bytes,
        message.unprotected if unprotected is None else unprotected,
        None,
        signature,
    )


def proof_header(size: int, index: int, hashes: Sequence[bytes]) -> dict[int, Any]:
    return {VDP: {VDP_INCLUSION: [encode_cbor([size, index, list(hashes)])]}}


# --- every receipt of small trees verifies -------------------------------------------


@pytest.mark.parametrize("size", range(1, 13))
def test_every_receipt_of_a_small_tree_verifies_with_only_the_public_key(size: int) -> None:
    protected, signature = head(size)
    root = mth(STATEMENTS[:size])
    for index in range(size):
        data = make_receipt(
            protected,
            signature,
            tree_size=size,
            leaf_index=index,
            path=path(index, STATEMENTS[:size]),
        )
        expected = VerifiedReceipt(
            tree_size=size,
            leaf_index=index,
            root=root,
            kid=LEDGER.kid,
            issuer=ORIGIN,
            issued_at=int(SIGNED_AT.timestamp()),
        )
        assert verify_receipt(data, LEDGER.public_key, statement=STATEMENTS[index]) == expected
        leaf = merkle.leaf_hash(STATEMENTS[index])
        assert verify_receipt(data, {LEDGER.kid: LEDGER.public_key}, leaf_hash=leaf) == expected
        # Another statement of the same tree is not the one this receipt is for.
        other = STATEMENTS[(index + 1) % size]
        if size > 1:
            with pytest.raises(VerificationError):
                verify_receipt(data, LEDGER.public_key, statement=other)


def test_receipt_layout() -> None:
    data = receipt(5, 3)
    message = decode_sign1(data)
    assert message.protected == {
        ALG: ALG_ES256,
        KID: LEDGER.kid,
        VDS: 1,
        CWT_CLAIMS: {CWT_ISS: ORIGIN, CWT_IAT: int(SIGNED_AT.timestamp())},
        TREE_SIZE: 5,
    }
    assert encode_cbor(message.protected) == message.protected_bytes  # deterministic
    assert message.payload is None
    [proof] = message.unprotected[VDP][VDP_INCLUSION]
    assert decode_cbor(proof) == [5, 3, path(3, STATEMENTS[:5])]
    # ~150 bytes + 34 per path hash (research estimate); ours carries a 32-byte kid.
    assert len(data) == len(receipt(1, 0)) + 3 * 34 + 1


def test_one_entry_tree_receipt_has_an_empty_path_and_verifies() -> None:
    data = receipt(1, 0)
    [proof] = decode_sign1(data).unprotected[VDP][VDP_INCLUSION]
    assert decode_cbor(proof) == [1, 0, []]
    proven = verify_receipt(data, LEDGER.public_key, statement=STATEMENTS[0])
    assert proven.root == merkle.leaf_hash(STATEMENTS[0])


def test_all_receipts_of_a_batch_share_header_and_signature() -> None:
    protected, signature = head(7)
    messages = [
        decode_sign1(
            make_receipt(
                protected, signature, tree_size=7, leaf_index=i, path=path(i, STATEMENTS[:7])
            )
        )
        for i in range(7)
    ]
    for i, message in enumerate(messages):
        verify_receipt(
            encode_sign1(message.protected_bytes, message.unprotected, None, message.signature),
            LEDGER.public_key,
            statement=STATEMENTS[i],
        )
    assert len({m.protected_bytes for m in messages}) == 1
    assert len({m.signature for m in messages}) == 1


# --- tampering --------------------------------------------------------------------------


def test_every_single_bit_flip_anywhere_in_a_receipt_fails() -> None:
    data = receipt(5, 3)
    for at in range(len(data)):
        for bit in range(8):
            mutated = bytearray(data)
            mutated[at] ^= 1 << bit
            with pytest.raises(VerificationError):
                verify_receipt(bytes(mutated), LEDGER.public_key, statement=STATEMENTS[3])


def test_every_byte_replacement_in_a_one_entry_receipt_fails() -> None:
    data = receipt(1, 0)
    for at in range(len(data)):
        for value in (0x00, 0xFF, data[at] ^ 0x80):
            if value == data[at]:
                continue
            mutated = bytearray(data)
            mutated[at] = value
            with pytest.raises(VerificationError):
                verify_receipt(bytes(mutated), LEDGER.public_key, statement=STATEMENTS[0])


def test_truncations_and_extensions_fail() -> None:
    data = receipt(6, 2)
    for end in range(len(data)):
        with pytest.raises(VerificationError):
            verify_receipt(data[:end], LEDGER.public_key, statement=STATEMENTS[2])
    with pytest.raises(FormatError):
        verify_receipt(data + b"\x00", LEDGER.public_key, statement=STATEMENTS[2])


def test_wrong_key_fails() -> None:
    data = receipt(4, 1)
    other = SigningKey.generate()
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_receipt(data, other.public_key, statement=STATEMENTS[1])
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_receipt(data, {other.kid: other.public_key}, statement=STATEMENTS[1])
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_receipt(data, {}, statement=STATEMENTS[1])
    # The right kid mapped to the wrong key: the signature fails.
    with pytest.raises(SignatureError, match="does not verify"):
        verify_receipt(data, {LEDGER.kid: other.public_key}, statement=STATEMENTS[1])
    # Signed by another key that claims the ledger's kid.
    message = decode_sign1(data)
    forged = rebuild(data, sign_with=other, root=mth(STATEMENTS[:4]))
    assert decode_sign1(forged).protected[KID] == LEDGER.kid == message.protected[KID]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_receipt(forged, LEDGER.public_key, statement=STATEMENTS[1])


def test_unsigned_tree_size_and_leaf_index_cannot_be_changed() -> None:
    size, index = 8, 5
    data = receipt(size, index)
    hashes = path(index, STATEMENTS[:size])
    # RFC 9942's weakness: leaf 5 of 8 walks to the same root as "leaf 5 of 7"
    # with the same path; the signed TREE_SIZE refuses it.
    assert merkle.root_from_inclusion_proof(
        merkle.leaf_hash(STATEMENTS[index]), index, 7, hashes
    ) == mth(STATEMENTS[:8])
    for claimed_size, claimed_index in [(7, 5), (9, 5), (8, 4), (8, 6), (8, 8), (6, 5)]:
        tampered = rebuild(data, unprotected=proof_header(claimed_size, claimed_index, hashes))
        with pytest.raises((ProofError, SignatureError)):
            verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])
    for claimed_size in (7, 9):
        tampered = rebuild(data, unprotected=proof_header(claimed_size, index, hashes))
        with pytest.raises(ProofError, match="signs 8"):
            verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])


def test_index_tampering_at_every_position_fails() -> None:
    size = 11
    protected, signature = head(size)
    for index in range(size):
        hashes = path(index, STATEMENTS[:size])
        for claimed in range(size):
            if claimed == index:
                continue
            tampered = encode_sign1(protected, proof_header(size, claimed, hashes), None, signature)
            with pytest.raises((ProofError, SignatureError)):
                verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])


def test_protected_tree_size_must_match_the_proof() -> None:
    # A head signed for size 6 carrying a proof at size 5.
    protected, signature = head(6)
    with pytest.raises(ValueError, match="tree size 5"):
        make_receipt(protected, signature, tree_size=5, leaf_index=0, path=[])
    tampered = encode_sign1(protected, proof_header(5, 1, path(1, STATEMENTS[:5])), None, signature)
    with pytest.raises(ProofError, match="signs 6"):
        verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[1])


def test_path_tampering_fails() -> None:
    size, index = 6, 4
    data = receipt(size, index)
    hashes = path(index, STATEMENTS[:size])
    variants = [
        hashes[:-1],
        [*hashes, hashes[0]],
        list(reversed(hashes)),
        [bytes(32), *hashes[1:]],
    ]
    for variant in variants:
        tampered = rebuild(data, unprotected=proof_header(size, index, variant))
        with pytest.raises(VerificationError):
            verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])


def test_malformed_unprotected_headers_fail() -> None:
    size, index = 3, 2
    data = receipt(size, index)
    hashes = path(index, STATEMENTS[:size])
    good = encode_cbor([size, index, hashes])
    other = encode_cbor([size, index - 1, path(index - 1, STATEMENTS[:size])])
    cases: dict[str, dict[Any, Any]] = {
        "no proofs": {},
        "extra label": {**proof_header(size, index, hashes), 33: b"x"},
        "two inclusion proofs": {VDP: {VDP_INCLUSION: [good, other]}},
        "no inclusion proof": {VDP: {VDP_INCLUSION: []}},
        "consistency proof too": {VDP: {VDP_INCLUSION: [good], VDP_CONSISTENCY: [good]}},
        "proof not wrapped": {VDP: {VDP_INCLUSION: [[size, index, hashes]]}},
        "proof of two items": {VDP: {VDP_INCLUSION: [encode_cbor([size, index])]}},
        "short hash": {VDP: {VDP_INCLUSION: [encode_cbor([size, index, [b"x" * 31]])]}},
        "negative index": {VDP: {VDP_INCLUSION: [encode_cbor([size, -1, hashes])]}},
        "text size": {VDP: {VDP_INCLUSION: [encode_cbor(["3", index, hashes])]}},
        "vdp not a map": {VDP: [good]},
        "proof with trailing bytes": {VDP: {VDP_INCLUSION: [good + b"\x00"]}},
    }
    for name, unprotected in cases.items():
        tampered = rebuild(data, unprotected=unprotected)
        with pytest.raises(FormatError):
            verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])
            pytest.fail(name)


def test_protected_header_requirements() -> None:
    size, index = 2, 0
    data = receipt(size, index)
    root = mth(STATEMENTS[:size])
    base = decode_sign1(data).protected
    cases: list[tuple[dict[Any, Any], type[VerificationError], str]] = [
        ({**base, ALG: -35}, FormatError, "ES256"),
        ({**base, VDS: 2}, FormatError, "vds"),
        ({k: v for k, v in base.items() if k != VDS}, FormatError, "vds"),
        ({k: v for k, v in base.items() if k != KID}, FormatError, "kid"),
        ({k: v for k, v in base.items() if k != TREE_SIZE}, FormatError, "tree size"),
        ({k: v for k, v in base.items() if k != CWT_CLAIMS}, FormatError, "CWT"),
        ({**base, CWT_CLAIMS: {CWT_IAT: 1}}, FormatError, "iss"),
        ({**base, CWT_CLAIMS: {CWT_ISS: ORIGIN}}, FormatError, "iat"),
        ({**base, CWT_CLAIMS: {CWT_ISS: ORIGIN, CWT_IAT: 1, 2: "sub"}}, FormatError, "unknown"),
        ({**base, 99: 1}, FormatError, "unknown label"),
        ({**base, 2: [99]}, FormatError, "crit"),
        ({**base, 2: []}, FormatError, "crit"),
        # Unhashable labels: found by a review, they raised TypeError.
        ({**base, 2: [[1]]}, FormatError, "crit"),
        ({**base, 2: [{1: 2}]}, FormatError, "crit"),
        ({**base, VDS: True}, FormatError, "vds"),
        ({**base, TREE_SIZE: "2"}, FormatError, "tree size"),
    ]
    for protected, error, message in cases:
        if ALG not in protected or protected[ALG] != ALG_ES256:
            tampered = rebuild(data, protected=protected)
        else:
            tampered = rebuild(data, protected=protected, sign_with=LEDGER, root=root)
        with pytest.raises(error, match=message):
            verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[index])
    # A crit that lists understood, present labels is fine.
    crit = rebuild(data, protected={**base, 2: [TREE_SIZE]}, sign_with=LEDGER, root=root)
    assert verify_receipt(crit, LEDGER.public_key, statement=STATEMENTS[index]).tree_size == 2


def test_attached_payload_is_refused() -> None:
    data = receipt(1, 0)
    message = decode_sign1(data)
    root = mth(STATEMENTS[:1])
    protected_bytes, signature = sign1(LEDGER, message.protected, root)
    attached = encode_sign1(protected_bytes, message.unprotected, root, signature)
    with pytest.raises(FormatError, match="detached"):
        verify_receipt(attached, LEDGER.public_key, statement=STATEMENTS[0])


def test_argument_errors() -> None:
    data = receipt(1, 0)
    with pytest.raises(TypeError):
        verify_receipt(data, LEDGER.public_key)
    with pytest.raises(TypeError):
        verify_receipt(data, LEDGER.public_key, statement=b"x", leaf_hash=bytes(32))
    with pytest.raises(ValueError):
        verify_receipt(data, LEDGER.public_key, leaf_hash=b"short")
    with pytest.raises(ValueError):
        sign_tree_head(LEDGER, origin=ORIGIN, size=-1, root=bytes(32), signed_at=SIGNED_AT)
    with pytest.raises(ValueError):
        sign_tree_head(
            LEDGER, origin=ORIGIN, size=1, root=bytes(32), signed_at=datetime(2026, 1, 1)
        )
    protected, signature = head(3)
    with pytest.raises(ValueError):
        make_receipt(protected, signature, tree_size=3, leaf_index=3, path=[])
    # The empty tree's head is signed (a checkpoint answer), but has no receipts.
    empty_protected, empty_signature = sign_tree_head(
        LEDGER, origin=ORIGIN, size=0, root=mth([]), signed_at=SIGNED_AT
    )
    with pytest.raises(ValueError):
        make_receipt(empty_protected, empty_signature, tree_size=0, leaf_index=0, path=[])
    with pytest.raises(ValueError):
        make_receipt(protected, signature, tree_size=3, leaf_index=0, path=[b"x"])


# --- an independent COSE implementation agrees ------------------------------------------


def _pycose_decode(data: bytes) -> Sign1Message:
    # pycose 1.1.0 cannot decode a tagged message under cbor2 6, which returns
    # a tag's array as a tuple: decode the untagged array with cbor2 and hand
    # it over (the tag byte is checked here).
    assert data[0] == 0xD2
    return Sign1Message.from_cose_obj(list(cbor2.loads(data[1:])), True)


def _pycose_key(key: SigningKey) -> EC2Key:
    numbers = key.public_key.public_numbers()
    return EC2Key(crv="P_256", x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))


@pytest.mark.parametrize(("size", "index"), [(1, 0), (5, 3), (12, 11)])
def test_pycose_verifies_our_receipts(size: int, index: int) -> None:
    message = _pycose_decode(receipt(size, index))
    message.key = _pycose_key(LEDGER)
    assert message.payload is None
    assert message.verify_signature(detached_payload=mth(STATEMENTS[:size]))
    assert not message.verify_signature(detached_payload=mth(STATEMENTS[: size - 1]))
    message.key = _pycose_key(SigningKey.generate())
    assert not message.verify_signature(detached_payload=mth(STATEMENTS[:size]))


def test_pycose_verifies_our_statements() -> None:
    for data in STATEMENTS[:3]:
        message = _pycose_decode(data)
        message.key = _pycose_key(ISSUER)
        assert message.verify_signature()
        assert message.payload == decode_sign1(data).payload


def test_we_verify_a_receipt_signed_by_pycose() -> None:
    """pycose writes the Sig_structure and the signature; our verifier checks them."""
    size, index = 5, 2
    root = mth(STATEMENTS[:size])
    numbers = LEDGER._private.private_numbers()  # the test may peek at its own key
    signer = EC2Key(
        crv="P_256",
        x=numbers.public_numbers.x.to_bytes(32, "big"),
        y=numbers.public_numbers.y.to_bytes(32, "big"),
        d=numbers.private_value.to_bytes(32, "big"),
    )
    protected = decode_sign1(receipt(size, index)).protected
    message = Sign1Message(phdr=protected, uhdr={}, payload=None, key=signer)
    signed = decode_sign1(message.encode(detached_payload=root))
    assert signed.protected == protected
    ours = encode_sign1(
        signed.protected_bytes,
        proof_header(size, index, path(index, STATEMENTS[:size])),
        None,
        signed.signature,
    )
    proven = verify_receipt(ours, LEDGER.public_key, statement=STATEMENTS[index])
    assert (proven.tree_size, proven.leaf_index, proven.root) == (size, index, root)


FUZZ_RECEIPT = receipt(6, 5)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_receipts_raise_only_verification_errors(data: st.DataObject) -> None:
    mutated = bytearray(FUZZ_RECEIPT)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del mutated[at : at + data.draw(st.integers(1, 8))]
        if not mutated:
            mutated = bytearray(b"\x00")
    try:
        proven = verify_receipt(bytes(mutated), LEDGER.public_key, statement=STATEMENTS[5])
    except VerificationError:
        return
    # A mutation that still verifies must prove exactly the same thing.
    assert (proven.tree_size, proven.leaf_index) == (6, 5)
    assert proven.root == mth(STATEMENTS[:6])


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, (1 << 64) - 1),
    st.integers(0, (1 << 64) - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=70),
)
def test_fuzz_proof_numbers_raise_only_verification_errors(
    size: int, index: int, hashes: list[bytes]
) -> None:
    protected, signature = head(6)
    tampered = encode_sign1(protected, proof_header(size, index, hashes), None, signature)
    with pytest.raises(VerificationError):
        verify_receipt(tampered, LEDGER.public_key, statement=STATEMENTS[5])


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=2**40),
    data=st.data(),
)
def test_the_fast_receipt_encoder_writes_what_the_generic_encoder_writes(
    size: int, data: st.DataObject
) -> None:
    """ReceiptMaker hand-writes the per-leaf CBOR; it must be byte-identical to
    encode_sign1 over the same values."""
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = data.draw(st.lists(st.binary(min_size=32, max_size=32), max_size=40))
    key = _KEY
    protected, signature = sign_tree_head(
        key, origin="ledger.test/x", size=size, root=b"\x07" * 32, signed_at=_WHEN
    )
    reference = encode_sign1(
        protected,
        {VDP: {VDP_INCLUSION: [encode_cbor([size, index, list(path)])]}},
        None,
        signature,
    )
    made = make_receipt(protected, signature, tree_size=size, leaf_index=index, path=path)
    assert made == reference


_KEY = SigningKey.generate()
_WHEN = datetime(2026, 11, 25, tzinfo=UTC)
