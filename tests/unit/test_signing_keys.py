"""The ledger's ES256 signing key (vconstore.ledger.signing) and the public-key
helpers (vconstore_client.transparency.keys)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from vconstore.ledger.signing import SigningKey, encode_sign1, sign1
from vconstore_client.transparency.cose import decode_sign1, verify_es256
from vconstore_client.transparency.keys import (
    b64url_decode,
    b64url_encode,
    cose_key_thumbprint,
    kid_text,
    public_key_from_jwk,
    public_key_from_pem,
    public_key_to_jwk,
)

KEY = SigningKey.generate()


def _pem(private_key: object, *, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


# --- key files --------------------------------------------------------------------------


def test_load_or_generate_creates_a_0600_file_and_reloads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "nested" / "ledger-key.pem"
    key = SigningKey.load_or_generate(path)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert b"BEGIN PRIVATE KEY" in path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["ledger-key.pem"]  # no temporary left
    again = SigningKey.load_or_generate(path)
    assert again.kid == key.kid
    assert SigningKey.from_pem(path.read_bytes()).kid == key.kid


def test_a_key_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger-key.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="vconstore.ledger.signing"):
        key = SigningKey.load_or_generate(path)
    assert key.kid == SigningKey.from_pem(path.read_bytes()).kid
    assert any("group or others" in record.getMessage() for record in caplog.records)


def test_concurrent_creation_ends_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "ledger-key.pem"
    kids: list[bytes] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        kids.append(SigningKey.load_or_generate(path).kid)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1
    assert kids[0] == SigningKey.from_pem(path.read_bytes()).kid


def test_a_bad_key_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger-key.pem"
    path.write_bytes(b"not a key")
    with pytest.raises(ValueError, match=str(path)):
        SigningKey.load_or_generate(path)


@pytest.mark.parametrize(
    ("private_key", "message"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "P-256 key, got curve secp384r1"),
        (ec.generate_private_key(ec.SECP256K1()), "P-256 key, got curve secp256k1"),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "EC P-256 key, got"),
        (ed25519.Ed25519PrivateKey.generate(), "EC P-256 key, got"),
    ],
    ids=["P-384", "secp256k1", "RSA", "Ed25519"],
)
def test_non_p256_pem_is_refused(private_key: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SigningKey.from_pem(_pem(private_key))
    public_pem = private_key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError):
        public_key_from_pem(public_pem)


def test_encrypted_or_garbage_pem_is_refused() -> None:
    encrypted = _pem(ec.generate_private_key(ec.SECP256R1()), password=b"secret")
    with pytest.raises(ValueError, match="unencrypted"):
        SigningKey.from_pem(encrypted)
    for data in (b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(ValueError):
            SigningKey.from_pem(data)
    with pytest.raises(ValueError):
        public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_sec1_pem_is_accepted() -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    sec1 = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"BEGIN EC PRIVATE KEY" in sec1
    assert SigningKey.from_pem(sec1).kid == cose_key_thumbprint(private_key.public_key())


def test_repr_shows_no_private_material() -> None:
    assert repr(KEY) == f"SigningKey(kid={KEY.kid_text!r})"


# --- JWK and PEM ------------------------------------------------------------------------


def test_pem_round_trip() -> None:
    assert public_key_from_pem(KEY.public_pem()) == KEY.public_key
    assert public_key_from_pem(KEY.public_pem().encode()) == KEY.public_key
    # A private key PEM gives its public half (trusted-issuer files may be either).
    assert public_key_from_pem(_pem(KEY._private)) == KEY.public_key


def test_jwk_round_trip() -> None:
    jwk = KEY.public_jwk()
    assert jwk == public_key_to_jwk(KEY.public_key)
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert jwk["kid"] == KEY.kid_text
    assert len(b64url_decode(jwk["x"])) == 32 and len(b64url_decode(jwk["y"])) == 32
    assert public_key_from_jwk(jwk) == KEY.public_key
    minimal = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    assert public_key_from_jwk(minimal) == KEY.public_key


def test_small_coordinates_are_padded_to_32_bytes() -> None:
    for scalar in range(1, 5000):  # deterministic: the first such key
        key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
        numbers = key.public_numbers()
        if numbers.x < 1 << 248 or numbers.y < 1 << 248:
            jwk = public_key_to_jwk(key)
            assert len(b64url_decode(jwk["x"])) == len(b64url_decode(jwk["y"])) == 32
            assert public_key_from_jwk(jwk) == key
            return
    pytest.fail("no key with a short coordinate found")


def test_jwk_refusals() -> None:
    jwk = KEY.public_jwk()
    other = public_key_to_jwk(SigningKey.generate().public_key)
    bad = [
        {**jwk, "kty": "OKP"},
        {**jwk, "crv": "P-384"},
        {**jwk, "alg": "RS256"},
        {**jwk, "use": "enc"},
        {k: v for k, v in jwk.items() if k != "y"},
        {**jwk, "x": jwk["x"] + "="},  # padding
        {**jwk, "x": jwk["x"][:-2]},  # short
        {**jwk, "x": jwk["x"].replace("-", "+").replace("_", "/") + "A"},
        {**jwk, "x": 12},
        {**jwk, "y": other["y"]},  # not on the curve
    ]
    for value in bad:
        with pytest.raises(ValueError):
            public_key_from_jwk(value)  # type: ignore[arg-type]
    # kid is recomputed, never trusted: a wrong one is ignored.
    assert public_key_from_jwk({**jwk, "kid": "whatever"}) == KEY.public_key


def test_b64url_is_strict() -> None:
    assert b64url_decode(b64url_encode(b"\xfb\xff")) == b"\xfb\xff"
    assert b64url_encode(b"\xfb\xff") == "-_8"
    for text in ("-_8=", "+/8", "-_9", "a", "a b"):
        with pytest.raises(ValueError):
            b64url_decode(text)


# --- kid: RFC 9679 ----------------------------------------------------------------------


def test_kid_matches_the_rfc9679_example() -> None:
    """RFC 9679 Section 6: the P-256 example key and its SHA-256 thumbprint."""
    x = bytes.fromhex("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d")
    y = bytes.fromhex("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c")
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    ).public_key()
    assert cose_key_thumbprint(key).hex() == (
        "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec"
    )


def test_kid_is_an_independent_thumbprint_computation() -> None:
    numbers = KEY.public_key.public_numbers()
    cose_key = {
        1: 2,
        -1: 1,
        -2: numbers.x.to_bytes(32, "big"),
        -3: numbers.y.to_bytes(32, "big"),
    }
    # cbor2's length-first order equals the bytewise one for these four keys.
    expected = hashlib.sha256(cbor2.dumps(cose_key, canonical=True)).digest()
    assert KEY.kid == expected == cose_key_thumbprint(KEY.public_key)
    assert len(KEY.kid) == 32
    assert KEY.kid_text == kid_text(KEY.kid) == b64url_encode(expected)
    assert len(KEY.kid_text) == 43 and "=" not in KEY.kid_text


# --- signing ----------------------------------------------------------------------------


def test_sign_returns_raw_r_s_that_verifies() -> None:
    signature = KEY.sign(b"data")
    assert len(signature) == 64
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    KEY.public_key.verify(der, b"data", ec.ECDSA(hashes.SHA256()))
    KEY.public_key.verify(KEY.sign_der(b"data"), b"data", ec.ECDSA(hashes.SHA256()))


def test_sign1_contract() -> None:
    header: dict[int, Any] = {1: -7, 4: KEY.kid}
    protected_bytes, signature = sign1(KEY, header, b"payload")
    message = decode_sign1(encode_sign1(protected_bytes, {}, b"payload", signature))
    verify_es256(KEY.public_key, message)
    protected_bytes, signature = sign1(KEY, header, None, detached_payload=b"root")
    message = decode_sign1(encode_sign1(protected_bytes, {}, None, signature))
    verify_es256(KEY.public_key, message, detached_payload=b"root")
    with pytest.raises(ValueError):
        sign1(KEY, header, None)
    with pytest.raises(ValueError):
        sign1(KEY, header, b"payload", detached_payload=b"root")
    with pytest.raises(ValueError, match="ES256"):
        sign1(KEY, {1: -8}, b"payload")
    with pytest.raises(ValueError):
        SigningKey(ec.generate_private_key(ec.SECP384R1()))
