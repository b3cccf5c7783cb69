"""vCons signed by this service: the JWS form of the draft (general JSON
serialization), ES256 with the store's issuer key. The protected header
carries the key id (RFC 7638 JWK thumbprint), a self-signed certificate of
that key in `x5c` (the draft's signed form requires one, and our own
validation accepts a signed vCon whose signature verifies against its x5c
leaf) and the vCon's uuid. Anyone holding the issuer's public key
(<data dir>/keys/issuer-public.pem) can verify it."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

from vconstore.ledger.signing import SigningKey

__all__ = ["VconSigner", "jwk_thumbprint"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(key: SigningKey) -> str:
    """RFC 7638: SHA-256 of the JWK's required members in lexical order."""
    jwk = key.public_jwk()
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


class VconSigner:
    def __init__(self, key: SigningKey, *, issuer: str, now: datetime | None = None) -> None:
        self._key = key
        self._kid = jwk_thumbprint(key)
        # Valid from a day back: a verifier's clock may run behind ours.
        self._certificate = key.self_signed_certificate(
            f"{issuer} vCon signer",
            valid_from=(now or datetime.now(UTC)) - timedelta(days=1),
            days=3650,
        )

    @property
    def kid(self) -> str:
        return self._kid

    def sign(self, vcon_json: str, *, uuid: str) -> str:
        """The general JSON serialization of the JWS over `vcon_json`."""
        header = {
            "alg": "ES256",
            "kid": self._kid,
            "x5c": [base64.b64encode(self._certificate).decode("ascii")],
            "uuid": uuid,
            "cty": "application/vcon+json",
        }
        protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
        payload = _b64url(vcon_json.encode("utf-8"))
        signature = self._key.sign(f"{protected}.{payload}".encode("ascii"))
        return json.dumps(
            {
                "payload": payload,
                "signatures": [{"protected": protected, "signature": _b64url(signature)}],
            },
            separators=(",", ":"),
        )
