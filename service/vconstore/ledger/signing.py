"""The ledger's ES256 (ECDSA P-256 with SHA-256) signing key and COSE_Sign1
writing.

- kid: RFC 9679 COSE Key thumbprint of the public key, 32 bytes; kid_text is
  its base64url form (see vconstore_client.transparency.keys).
- `sign` returns the raw COSE signature r || s (64 bytes, RFC 9053 2.1);
  `sign_der` the ASN.1 DER form that C2SP signed notes carry.
- Everything written is RFC 8949 Section 4.2.1 deterministic CBOR
  (vconstore_client.transparency.cose.encode_cbor; not cbor2's
  canonical=True, which orders map keys length-first).
- The key file is a PKCS#8 PEM, unencrypted, created with mode 0600 (the
  directory 0700) by `load_or_generate`; an existing file readable by group
  or others is used, with a warning.

A SigningKey holds no mutable state: signing and verifying may run on any
thread at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from vconstore_client.transparency.cose import ALG, ALG_ES256, encode_cbor, sig_structure
from vconstore_client.transparency.keys import (
    cose_key_thumbprint,
    kid_text,
    public_key_to_jwk,
)

__all__ = ["SigningKey", "encode_sign1", "sign1"]

_log = logging.getLogger(__name__)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class SigningKey:
    """An ES256 private key with its kid."""

    __slots__ = ("_kid", "_private", "_public")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("the ledger signs with ES256: the key must be an EC P-256 key")
        self._private = private_key
        self._public = private_key.public_key()
        self._kid = cose_key_thumbprint(self._public)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid_text!r})"  # never the private key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """From an unencrypted PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY")."""
        try:
            key = serialization.load_pem_private_key(bytes(data), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"not an unencrypted PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(
                f"the ledger signs with ES256 and needs an EC P-256 key, got {type(key).__name__}"
            )
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(
                f"the ledger signs with ES256 and needs a P-256 key, got curve {key.curve.name}"
            )
        return cls(key)

    @classmethod
    def load_or_generate(cls, path: Path) -> SigningKey:
        """The key in `path`; if there is no such file, a new key written there
        atomically (mode 0600, the directory created 0700 if missing). If two
        processes race to create it, both end up with the one that landed."""
        path = Path(path)
        try:
            return cls._load(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = cls.generate()
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key._private_pem())
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # never replaces a file another process wrote
            except FileExistsError:
                return cls._load(path)
            _fsync_directory(path.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        _log.info("generated a new ES256 signing key %s in %s", key.kid_text, path)
        return key

    @classmethod
    def _load(cls, path: Path) -> SigningKey:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read()
        if stat.S_IMODE(mode) & 0o077:
            _log.warning(
                "ledger signing key file %s is accessible to group or others (mode %o); "
                "chmod 600 it",
                path,
                stat.S_IMODE(mode),
            )
        try:
            return cls.from_pem(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def _private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def kid(self) -> bytes:
        return self._kid

    @property
    def kid_text(self) -> str:
        return kid_text(self._kid)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def public_pem(self) -> str:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def public_jwk(self) -> dict[str, str]:
        return public_key_to_jwk(self._public)

    def sign(self, data: bytes) -> bytes:
        """ES256 over `data`: the raw 64-byte r || s of a COSE signature."""
        r, s = decode_dss_signature(self._private.sign(data, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def self_signed_certificate(
        self, common_name: str, *, valid_from: datetime, days: int
    ) -> bytes:
        """A DER X.509 certificate of this key, signed by itself (for a JWS
        `x5c` header, where the draft wants a certificate)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_from + timedelta(days=days))
            .sign(self._private, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.DER)

    def sign_der(self, data: bytes) -> bytes:
        """ECDSA P-256 SHA-256 over `data`, ASN.1 DER (signed-note type 0x02)."""
        return self._private.sign(data, _ECDSA_SHA256)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sign1(
    key: SigningKey,
    protected: Mapping[Any, Any],
    payload: bytes | None,
    *,
    detached_payload: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Sign a COSE_Sign1: (protected header bytes, signature). The protected
    header must say alg ES256. With `payload` None the message's payload is
    detached and `detached_payload` is what gets signed."""
    if protected.get(ALG) != ALG_ES256:
        raise ValueError("the protected header must carry alg ES256 (-7)")
    if payload is not None and detached_payload is None:
        signed = payload
    elif payload is None and detached_payload is not None:
        signed = detached_payload
    else:
        raise ValueError("give either an attached payload or a detached one")
    protected_bytes = encode_cbor(dict(protected))
    return protected_bytes, key.sign(sig_structure(protected_bytes, signed))


def encode_sign1(
    protected_bytes: bytes,
    unprotected: Mapping[Any, Any],
    payload: bytes | None,
    signature: bytes,
) -> bytes:
    """A tagged COSE_Sign1 (tag 18), deterministic CBOR."""
    return b"\xd2" + encode_cbor([protected_bytes, dict(unprotected), payload, signature])
