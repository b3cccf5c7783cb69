"""The signed (JWS) and encrypted (JWE) forms of a vCon: telling them apart, verifying the first.

A signed vCon is a JWS in the General (`payload` + `signatures`) or Flattened
(`payload` + `signature`) JSON serialization whose payload is the base64url of
the unsigned vCon's JSON (gzipped when the header `cty` ends in `+gzip`).
Every signature is verified against the public key of the first certificate
of its own `x5c` header; nothing is fetched (`x5u` alone is refused), so
verification is offline and deterministic.

The header parameters are the union of the protected header and the
unprotected `header`. RFC 7515 §7.2.1 wants the two disjoint, but the draft's
own signed example repeats `alg` and `x5c` in both with equal values, so a
repeated parameter is accepted when the values agree and refused when they
differ (the signed, protected value is the one used).

Chain trust is optional: with `trust_anchors` configured, the `x5c` chain must
lead to one of them. cryptography's x509 verifier cannot do this for vCons:
it implements the Web PKI profile and refuses X.509 v1 certificates, which is
what the draft's example chain (from vcon-dev/vcon `certs/`) consists of. So
the path is checked here, as RFC 5280 §6.1 describes for the parts that apply:
each certificate must be within its validity period and signed by the next
(issuer name and signature, via `verify_directly_issued_by`), a v3 issuer must
be a CA (basicConstraints cA, keyCertSign when keyUsage is present, path
length) and the chain must end at, or be issued by, an anchor. A v1 issuer
carries no basicConstraints; RFC 5280 §6.1.4(k) leaves its CA status to out
of band knowledge, and the operator configuring the anchor is taken as that
knowledge (so a PKI that issues v1 end-entity certificates cannot stop its
end entities from issuing: do not anchor such a PKI if that matters). Name
constraints, policies and revocation are not checked.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from vconstore.domain import jsonpath
from vconstore.domain.errors import VconInvalid, Violation
from vconstore.domain.ijson import parse_ijson

REASON_ENCRYPTED: Final = "VCON_ENCRYPTED"
REASON_SIGNATURE: Final = "VCON_SIGNATURE_INVALID"

Form = Literal["unsigned", "signed", "encrypted"]

# Members only the unsigned form has: a document holding any of them is an
# unsigned vCon even if it also carries `payload`/`signatures` (vcon-lib's
# sign() writes such hybrids; they are not JWS and nothing in them is verified).
_UNSIGNED_MEMBERS: Final = ("parties", "dialog", "analysis", "attachments")
_JWE_MEMBERS: Final = ("protected", "unprotected", "recipients", "iv", "encrypted_key", "tag")
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}\Z")
_MAX_CHAIN: Final = 10
_MAX_SIGNATURES: Final = 16
_MAX_HEADER_DEPTH: Final = 8
_DER: Final = Encoding.DER

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES: Final[dict[str, tuple[type[ec.EllipticCurve], int]]] = {
    "ES256": (ec.SECP256R1, 32),
    "ES384": (ec.SECP384R1, 48),
    "ES512": (ec.SECP521R1, 66),
}
SUPPORTED_ALGORITHMS: Final = frozenset(
    {f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in _HASHES}
    | {"EdDSA", "Ed25519", "Ed448"}
)


@dataclass(frozen=True, slots=True)
class VerifiedPayload:
    """The unsigned vCon inside a JWS whose every signature verified."""

    text: str
    # (JSON path, value) of each `uuid` header parameter, to compare with the payload's uuid.
    header_uuids: tuple[tuple[str, str], ...]


def detect_form(doc: dict[str, Any]) -> Form:
    """Which of the draft's three forms a top-level JSON object is in."""
    if any(name in doc for name in _UNSIGNED_MEMBERS):
        return "unsigned"
    if ("ciphertext" in doc or "cyphertext" in doc) and any(n in doc for n in _JWE_MEMBERS):
        return "encrypted"
    if "payload" in doc and ("signatures" in doc or "signature" in doc):
        return "signed"
    return "unsigned"


def encrypted_refusal(doc: dict[str, Any]) -> VconInvalid:
    """The refusal for a JWE: its content cannot be validated, indexed or served."""
    member = "ciphertext" if "ciphertext" in doc else "cyphertext"
    return VconInvalid(
        [
            Violation(
                "",
                "the encrypted (JWE) form of a vCon cannot be stored: decrypt it first and"
                " submit the signed or unsigned form"
                + (
                    " (the JWE spells `cyphertext`, the container-00 typo)"
                    if member == "cyphertext"
                    else ""
                ),
            )
        ],
        reason=REASON_ENCRYPTED,
    )


def verify_jws(
    doc: dict[str, Any],
    *,
    max_payload_bytes: int,
    trust_anchors: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
) -> VerifiedPayload:
    """Verify every signature of a JWS-form vCon and return its payload as text.

    Raises VconInvalid (reason VCON_SIGNATURE_INVALID) listing every problem:
    a signature that does not verify, missing `x5c`, an unsupported `alg`,
    bad base64, an untrusted chain (when `trust_anchors` is not empty), a
    payload that is not UTF-8 or inflates beyond `max_payload_bytes`.
    """
    when = now or datetime.now(UTC)
    violations: list[Violation] = []
    payload_b64 = doc.get("payload")
    payload = _decode_b64url(payload_b64, "payload", violations)
    signatures = _signature_objects(doc, violations)
    header_uuids: list[tuple[str, str]] = []
    compressed = False
    for path, sig in signatures:
        headers = _headers(sig, path, violations)
        if headers is None:
            continue
        cty = headers.get("cty")
        if isinstance(cty, str) and cty.lower().endswith("+gzip"):
            compressed = True
        uuid = headers.get("uuid")
        if uuid is not None:
            uuid_path = _header_path(sig, path, "uuid")
            if isinstance(uuid, str):
                header_uuids.append((uuid_path, uuid))
            else:
                violations.append(Violation(uuid_path, "header uuid must be a string"))
        # Only a payload that decoded can have been signed (and only ASCII
        # base64url can form the signing input).
        if isinstance(payload_b64, str) and payload is not None:
            _verify_one(sig, path, headers, payload_b64, trust_anchors, when, violations)
    text = None
    if payload is not None:
        text = _payload_text(payload, compressed, max_payload_bytes, violations)
    if violations or text is None:
        raise VconInvalid(
            violations or [Violation("payload", "no payload")], reason=REASON_SIGNATURE
        )
    return VerifiedPayload(text=text, header_uuids=tuple(header_uuids))


# --- structure ---------------------------------------------------------------


def _signature_objects(
    doc: dict[str, Any], violations: list[Violation]
) -> list[tuple[str, dict[str, Any]]]:
    """(path prefix, signature object) pairs for both serializations."""
    if "signatures" not in doc:  # Flattened: the signature members sit at the top level
        return [("", doc)]
    signatures = doc["signatures"]
    if not isinstance(signatures, list) or not signatures:
        violations.append(Violation("signatures", "signatures must be a non-empty array"))
        return []
    if len(signatures) > _MAX_SIGNATURES:
        violations.append(
            Violation("signatures", f"more than {_MAX_SIGNATURES} signatures are not verified")
        )
        return []
    found = []
    for i, sig in enumerate(signatures):
        path = jsonpath.index("signatures", i)
        if isinstance(sig, dict):
            found.append((path, sig))
        else:
            violations.append(Violation(path, "a signature must be an object"))
    return found


def _member_path(prefix: str, name: str) -> str:
    return jsonpath.member(prefix, name)


def _header_path(sig: dict[str, Any], prefix: str, name: str) -> str:
    """Where a header parameter was written: the unprotected header if there, else protected."""
    header = sig.get("header")
    if isinstance(header, dict) and name in header:
        return jsonpath.member(_member_path(prefix, "header"), name)
    return _member_path(prefix, "protected")


def _headers(
    sig: dict[str, Any], prefix: str, violations: list[Violation]
) -> dict[str, Any] | None:
    """The joint header of one signature, or None (with violations) when unusable."""
    protected_path = _member_path(prefix, "protected")
    protected: dict[str, Any] = {}
    if sig.get("protected") is not None:
        raw = _decode_b64url(sig["protected"], protected_path, violations)
        if raw is None:
            return None
        try:
            # I-JSON like the vCon itself: RFC 7515 §4 refuses duplicate header names.
            decoded = parse_ijson(raw.decode("utf-8"), max_depth=_MAX_HEADER_DEPTH)
        except UnicodeDecodeError:
            violations.append(Violation(protected_path, "protected header is not UTF-8"))
            return None
        except VconInvalid as exc:
            detail = "; ".join(str(v) for v in exc.violations)
            violations.append(Violation(protected_path, f"protected header: {detail}"))
            return None
        if not isinstance(decoded, dict):
            violations.append(Violation(protected_path, "protected header is not a JSON object"))
            return None
        protected = decoded
    header_path = _member_path(prefix, "header")
    unprotected = sig.get("header")
    if unprotected is None:
        unprotected = {}
    if not isinstance(unprotected, dict):
        violations.append(Violation(header_path, "header must be an object"))
        return None
    for name in protected.keys() & unprotected.keys():
        if protected[name] != unprotected[name]:
            violations.append(
                Violation(
                    jsonpath.member(header_path, name),
                    f'header parameter "{name}" differs from the protected header',
                )
            )
            return None
    if "crit" in protected or "crit" in unprotected:
        violations.append(
            Violation(protected_path, "critical header parameters (crit) are not supported")
        )
        return None
    return {**unprotected, **protected}


# --- signatures ----------------------------------------------------------------


def _verify_one(
    sig: dict[str, Any],
    prefix: str,
    headers: dict[str, Any],
    payload_b64: str,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime,
    violations: list[Violation],
) -> None:
    alg = headers.get("alg")
    alg_path = _header_path(sig, prefix, "alg")
    if not isinstance(alg, str):
        violations.append(Violation(alg_path, "alg header parameter missing"))
        return
    if alg not in SUPPORTED_ALGORITHMS:
        violations.append(
            Violation(
                alg_path,
                f'unsupported alg "{alg}" (supported: {", ".join(sorted(SUPPORTED_ALGORITHMS))})',
            )
        )
        return
    chain = _certificates(sig, prefix, headers, violations)
    if chain is None:
        return
    signature_path = _member_path(prefix, "signature")
    signature = _decode_b64url(sig.get("signature"), signature_path, violations)
    if signature is None:
        return
    protected_b64 = sig.get("protected") or ""
    try:
        signing_input = f"{protected_b64}.{payload_b64}".encode("ascii")
    except UnicodeEncodeError:
        violations.append(Violation(_member_path(prefix, "protected"), "not base64url text"))
        return
    try:
        key = chain[0].public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        violations.append(
            Violation(
                _header_path(sig, prefix, "x5c"),
                f"the certificate's public key is not usable ({type(exc).__name__})",
            )
        )
        return
    problem = _check_signature(alg, key, signature, signing_input)
    if problem is not None:
        violations.append(Violation(signature_path, problem))
        return
    if trust_anchors:
        chain_problem = _chain_problem(chain, trust_anchors, now)
        if chain_problem is not None:
            violations.append(Violation(_header_path(sig, prefix, "x5c"), chain_problem))


def _certificates(
    sig: dict[str, Any], prefix: str, headers: dict[str, Any], violations: list[Violation]
) -> list[x509.Certificate] | None:
    x5c_path = _header_path(sig, prefix, "x5c")
    x5c = headers.get("x5c")
    if x5c is None:
        if headers.get("x5u") is not None:
            x5c_path = _header_path(sig, prefix, "x5u")
            message = (
                "cannot verify: x5u fetching is not supported; include the certificate chain in x5c"
            )
        else:
            message = "cannot verify: no x5c certificate chain in the header"
        violations.append(Violation(x5c_path, message))
        return None
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        violations.append(Violation(x5c_path, "x5c must be a non-empty array of strings"))
        return None
    if len(x5c) > _MAX_CHAIN:
        violations.append(Violation(x5c_path, f"x5c holds more than {_MAX_CHAIN} certificates"))
        return None
    chain = []
    for i, encoded in enumerate(x5c):
        try:
            # x5c is standard base64 (RFC 7515 §4.1.6), not base64url.
            der = base64.b64decode(encoded, validate=True)
            chain.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            violations.append(
                Violation(jsonpath.index(x5c_path, i), "not a base64 DER X.509 certificate")
            )
            return None
    return chain


def _check_signature(alg: str, key: object, signature: bytes, signing_input: bytes) -> str | None:
    """None when `signature` verifies, else why not."""
    try:
        if alg.startswith(("RS", "PS")):
            if not isinstance(key, rsa.RSAPublicKey):
                return f"alg {alg} needs an RSA key; the x5c[0] certificate holds another kind"
            digest = _HASHES[alg[2:]]()
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            )
            key.verify(signature, signing_input, pad, digest)
        elif alg.startswith("ES"):
            curve, size = _EC_CURVES[alg]
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
                return f"alg {alg} needs an EC {curve.name} key; the x5c[0] certificate differs"
            if len(signature) != 2 * size:
                return f"an {alg} signature is {2 * size} bytes, not {len(signature)}"
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_HASHES[alg[2:]]()))
        # "EdDSA" takes either curve; the fully specified names (RFC 9864) one each.
        elif (isinstance(key, ed25519.Ed25519PublicKey) and alg in ("EdDSA", "Ed25519")) or (
            isinstance(key, ed448.Ed448PublicKey) and alg in ("EdDSA", "Ed448")
        ):
            key.verify(signature, signing_input)
        else:
            return f"alg {alg} needs an Edwards-curve key matching it; x5c[0] holds another"
    except InvalidSignature:
        return "signature does not verify against the x5c[0] certificate's key"
    except UnsupportedAlgorithm as exc:
        return f"cannot verify: {exc}"
    return None


def _chain_problem(
    chain: list[x509.Certificate], anchors: Sequence[x509.Certificate], now: datetime
) -> str | None:
    """None when `chain` (leaf first) leads to one of `anchors` at `now`, else why not."""
    anchor_ders = {a.public_bytes(_DER) for a in anchors}
    for i, cert in enumerate(chain):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return (
                f"certificate x5c[{i}] ({cert.subject.rfc4514_string()}) is not valid at"
                f" {now.isoformat()}"
            )
        if cert.public_bytes(_DER) in anchor_ders:
            return None
        if i + 1 < len(chain):
            issuer = chain[i + 1]
            problem = _issued_by(cert, issuer, intermediates_below=i)
            if problem is not None:
                return f"x5c[{i}] is not issued by x5c[{i + 1}]: {problem}"
    last = chain[-1]
    for anchor in anchors:
        if not anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc:
            continue
        try:
            last.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue  # not this anchor's certificate
        problem = _issued_by(last, anchor, intermediates_below=len(chain) - 1)
        if problem is None:
            return None
        return f"x5c[{len(chain) - 1}] is issued by a trust anchor that may not issue it: {problem}"
    return "the x5c certificate chain does not lead to a configured trust anchor"


def _issued_by(
    cert: x509.Certificate, issuer: x509.Certificate, *, intermediates_below: int
) -> str | None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
        return str(exc) or type(exc).__name__
    if issuer.version is not x509.Version.v3:
        return None  # v1 issuer: see the module docstring
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "the issuer is a v3 certificate without basicConstraints (not a CA)"
    if not constraints.ca:
        return "the issuer is not a CA (basicConstraints cA is false)"
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        limit = constraints.path_length
        return f"path length {intermediates_below} exceeds the issuer's limit {limit}"
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not usage.key_cert_sign:
        return "the issuer's keyUsage does not allow keyCertSign"
    return None


# --- payload -------------------------------------------------------------------


def _decode_b64url(value: object, path: str, violations: list[Violation]) -> bytes | None:
    if not isinstance(value, str):
        violations.append(Violation(path, "must be a base64url string"))
        return None
    if not _BASE64URL.match(value) or len(value.rstrip("=")) % 4 == 1:
        violations.append(Violation(path, "not valid base64url"))
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        violations.append(Violation(path, "not valid base64url"))
        return None


def _payload_text(
    payload: bytes, compressed: bool, max_bytes: int, violations: list[Violation]
) -> str | None:
    if compressed:
        # Bounded inflation: a small gzip bomb must not become gigabytes here.
        inflater = zlib.decompressobj(wbits=31)
        try:
            payload = inflater.decompress(payload, max_bytes + 1)
        except zlib.error as exc:
            violations.append(
                Violation("payload", f"cty says +gzip but the payload is not gzip: {exc}")
            )
            return None
        if len(payload) > max_bytes or inflater.unconsumed_tail:
            violations.append(
                Violation(
                    "payload",
                    f"the gzipped payload inflates beyond {max_bytes} bytes (limit max_vcon_bytes)",
                )
            )
            return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        violations.append(
            Violation("payload", f"payload is not UTF-8 text: {exc.reason} at byte {exc.start}")
        )
        return None
