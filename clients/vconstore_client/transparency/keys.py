"""P-256 (ES256) public keys: the COSE key identifier, PEM and JWK forms.

kid = RFC 9679 COSE Key thumbprint with SHA-256: the SHA-256 of the
deterministic CBOR (RFC 8949 Section 4.2.1) of the key's required parameters
    {1: 2 (kty EC2), -1: 1 (crv P-256), -2: x, -3: y}
with x and y as 32-byte big-endian byte strings; 32 bytes. Its text form
(`kid_text`: JWK "kid", SCRAPI /.well-known/scitt-keys/{kid}, error messages)
is base64url without padding, 43 characters.

JWK (RFC 7517/7518): {"kty": "EC", "crv": "P-256", "x", "y" (base64url, no
padding, 32 bytes each), "kid": kid_text, "alg": "ES256", "use": "sig"}.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vconstore_client.transparency.cose import encode_cbor

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "cose_key_thumbprint",
    "kid_text",
    "public_key_from_jwk",
    "public_key_from_pem",
    "public_key_to_jwk",
    "require_p256",
]

_COORDINATE_BYTES = 32


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: ValueError for padding, other alphabets or
    non-canonical trailing bits."""
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise ValueError("not unpadded base64url") from None
    if "+" in text or "/" in text or b64url_encode(raw) != text:
        raise ValueError("not unpadded base64url")
    return raw


def require_p256(public_key: object) -> ec.EllipticCurvePublicKey:
    """The key itself if it is a P-256 public key; ValueError otherwise."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError(f"expected an EC P-256 public key, got {type(public_key).__name__}")
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError(f"expected a P-256 key, got curve {public_key.curve.name}")
    return public_key


def _coordinates(public_key: ec.EllipticCurvePublicKey) -> tuple[bytes, bytes]:
    numbers = require_p256(public_key).public_numbers()
    return (
        numbers.x.to_bytes(_COORDINATE_BYTES, "big"),
        numbers.y.to_bytes(_COORDINATE_BYTES, "big"),
    )


def cose_key_thumbprint(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 9679 SHA-256 thumbprint of the key's COSE_Key form (32 bytes)."""
    x, y = _coordinates(public_key)
    return hashlib.sha256(encode_cbor({1: 2, -1: 1, -2: x, -3: y})).digest()


def kid_text(kid: bytes) -> str:
    """A kid's text form: base64url without padding."""
    return b64url_encode(kid)


def public_key_from_pem(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), or
    the public half of an unencrypted PEM private key; ValueError otherwise."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    key: object
    try:
        if b"PRIVATE KEY-----" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a PEM public key: {error}") from None
    return require_p256(key)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its JWK. "kid" is ignored (the kid is always
    recomputed from the key); "alg" and "use", when present, must be ES256 and
    sig. ValueError for anything else."""
    if not isinstance(jwk, Mapping):
        raise ValueError("a JWK is a JSON object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("expected a JWK with kty EC and crv P-256")
    if jwk.get("alg", "ES256") != "ES256":
        raise ValueError(f"JWK alg is {jwk.get('alg')!r}, expected ES256")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"JWK use is {jwk.get('use')!r}, expected sig")
    coordinates = []
    for name in ("x", "y"):
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"JWK {name} is missing or not a string")
        raw = b64url_decode(value)
        if len(raw) != _COORDINATE_BYTES:
            raise ValueError(f"JWK {name} is {len(raw)} bytes, expected {_COORDINATE_BYTES}")
        coordinates.append(int.from_bytes(raw, "big"))
    try:
        return ec.EllipticCurvePublicNumbers(
            coordinates[0], coordinates[1], ec.SECP256R1()
        ).public_key()
    except ValueError:
        raise ValueError("JWK x, y is not a point on P-256") from None


def public_key_to_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The key's public JWK, with kid = kid_text(cose_key_thumbprint(key))."""
    x, y = _coordinates(public_key)
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(x),
        "y": b64url_encode(y),
        "kid": kid_text(cose_key_thumbprint(public_key)),
        "alg": "ES256",
        "use": "sig",
    }
