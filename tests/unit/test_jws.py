"""Signed (JWS) and encrypted (JWE) vCons: detection, verification, chain trust."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tests.corpus_expectations import corpus_files
from vconstore.domain.errors import VconInvalid
from vconstore.domain.jws import detect_form, verify_jws
from vconstore.domain.validation import ValidationPolicy, validate_vcon_text

UUID = "018f0000-0000-7000-8000-000000000001"
DEFAULT = ValidationPolicy()


def corpus(prefix: str) -> str:
    path = next(f for f in corpus_files() if f.name.startswith(prefix))
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refuse(text: str, policy: ValidationPolicy = DEFAULT) -> VconInvalid:
    with pytest.raises(VconInvalid) as refused:
        validate_vcon_text(text, policy)
    return refused.value


def has(error: VconInvalid, path: str, substring: str) -> bool:
    return any(v.path == path and substring in v.message for v in error.violations)


# --- keys, certificates, signing --------------------------------------------------------

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
_KEYS: dict[str, PrivateKey] = {}


def key_for(kind: str) -> PrivateKey:
    if kind not in _KEYS:
        _KEYS[kind] = {
            "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate,
            "ed448": ed448.Ed448PrivateKey.generate,
        }[kind]()
    return _KEYS[kind]


NOW = datetime.now(UTC)


def certificate(
    key: PrivateKey,
    name: str,
    *,
    issuer: tuple[PrivateKey, x509.Certificate] | None = None,
    ca: bool | None = None,
    path_length: int | None = None,
    not_after: datetime = NOW + timedelta(days=30),
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length), critical=True
        )
    algorithm = (
        None
        if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else hashes.SHA256()
    )
    return builder.sign(signer, algorithm)


def x5c(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs]


_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def raw_signature(alg: str, key: PrivateKey, data: bytes) -> bytes:
    if alg.startswith("RS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        return key.sign(data, padding.PKCS1v15(), _HASH[alg[2:]]())
    if alg.startswith("PS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        digest = _HASH[alg[2:]]()
        return key.sign(data, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    if alg.startswith("ES"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_HASH[alg[2:]]())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    return key.sign(data)


@dataclass
class Signer:
    alg: str
    key: PrivateKey
    chain: list[x509.Certificate]
    protected: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)


def signer(
    alg: str = "RS256", kind: str = "rsa", *, x5c_in: str = "header", uuid: str | None = UUID
) -> Signer:
    key = key_for(kind)
    chain = [certificate(key, f"signer {kind}")]
    where: dict[str, dict[str, Any]] = {"protected": {"alg": alg}, "header": {}}
    where[x5c_in]["x5c"] = x5c(*chain)
    if uuid is not None:
        where["header"]["uuid"] = uuid
    return Signer(alg, key, chain, where["protected"], where["header"])


def sign_jws(payload: bytes, *signers: Signer, flattened: bool = False) -> dict[str, Any]:
    payload_b64 = b64url(payload)
    signatures = []
    for s in signers:
        protected_b64 = b64url(json.dumps(s.protected).encode())
        data = f"{protected_b64}.{payload_b64}".encode()
        entry: dict[str, Any] = {
            "protected": protected_b64,
            "signature": b64url(raw_signature(s.alg, s.key, data)),
        }
        if s.header:
            entry["header"] = s.header
        signatures.append(entry)
    if flattened:
        return {"payload": payload_b64, **signatures[0]}
    return {"payload": payload_b64, "signatures": signatures}


def unsigned(**members: Any) -> dict[str, Any]:
    return {
        "uuid": UUID,
        "created_at": "2026-01-01T00:00:00Z",
        "parties": [{"name": "A"}],
        **members,
    }


def payload_of(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


# --- the draft's signed example -------------------------------------------------------------


def test_corpus_07_verifies_and_its_payload_is_validated_in_its_place() -> None:
    text = corpus("07")
    got = validate_vcon_text(text, DEFAULT)
    assert got.signed is True
    assert got.text == text
    assert got.document == json.loads(corpus("02"))
    assert got.uuid == "019f15a6-a752-826f-b9a2-279e0d16bc46"
    assert [w.path for w in got.warnings] == ["payload.created_at"]


def flip_byte(b64: str, index: int) -> str:
    raw = bytearray(unb64url(b64))
    raw[index] ^= 0x01
    return b64url(bytes(raw))


def test_corpus_07_with_one_signature_byte_flipped_is_refused() -> None:
    doc = json.loads(corpus("07"))
    doc["signatures"][0]["signature"] = flip_byte(doc["signatures"][0]["signature"], 100)
    refused = refuse(json.dumps(doc))
    assert refused.reason == "VCON_SIGNATURE_INVALID"
    assert has(refused, "signatures[0].signature", "does not verify")


def test_corpus_07_with_one_payload_byte_flipped_is_refused() -> None:
    doc = json.loads(corpus("07"))
    payload = unb64url(doc["payload"])
    index = payload.index(b"Alice") + 4
    doc["payload"] = flip_byte(doc["payload"], index)
    assert b"Alicd" in unb64url(doc["payload"])  # still JSON; only the signature breaks
    assert has(refuse(json.dumps(doc)), "signatures[0].signature", "does not verify")


def test_corpus_07_keeps_x5c_and_alg_in_both_headers_with_equal_values() -> None:
    signature = json.loads(corpus("07"))["signatures"][0]
    protected = json.loads(unb64url(signature["protected"]))
    assert protected["x5c"] == signature["header"]["x5c"]
    assert protected["alg"] == signature["header"]["alg"] == "RS256"


# --- self-signed JWSs ----------------------------------------------------------------------

ALGORITHMS = [
    ("RS256", "rsa"),
    ("RS384", "rsa"),
    ("RS512", "rsa"),
    ("PS256", "rsa"),
    ("PS384", "rsa"),
    ("PS512", "rsa"),
    ("ES256", "p256"),
    ("ES384", "p384"),
    ("ES512", "p521"),
    ("EdDSA", "ed25519"),
    ("EdDSA", "ed448"),
    ("Ed25519", "ed25519"),
    ("Ed448", "ed448"),
]


@pytest.mark.parametrize(("alg", "kind"), ALGORITHMS)
def test_a_jws_signed_with_a_fresh_self_signed_certificate_verifies(alg: str, kind: str) -> None:
    doc = unsigned(subject="signed")
    for flattened in (False, True):
        text = json.dumps(sign_jws(payload_of(doc), signer(alg, kind), flattened=flattened))
        got = validate_vcon_text(text, DEFAULT)
        assert (got.signed, got.document, got.uuid, got.text) == (True, doc, UUID, text)


def test_x5c_may_be_in_the_protected_header_only() -> None:
    text = json.dumps(sign_jws(payload_of(unsigned()), signer(x5c_in="protected")))
    assert validate_vcon_text(text, DEFAULT).signed


def test_every_signature_must_verify() -> None:
    good, other = signer("RS256", "rsa"), signer("ES256", "p256")
    jws = sign_jws(payload_of(unsigned()), good, other)
    assert validate_vcon_text(json.dumps(jws), DEFAULT).signed
    jws["signatures"][1]["signature"] = flip_byte(jws["signatures"][1]["signature"], 3)
    refused = refuse(json.dumps(jws))
    assert [v.path for v in refused.violations] == ["signatures[1].signature"]


def test_header_uuid_must_match_the_payload_uuid_ignoring_case() -> None:
    matching = sign_jws(payload_of(unsigned()), signer(uuid=UUID.upper()))
    assert validate_vcon_text(json.dumps(matching), DEFAULT).signed
    other = "018f0000-0000-7000-8000-000000000002"
    refused = refuse(json.dumps(sign_jws(payload_of(unsigned()), signer(uuid=other))))
    assert has(refused, "signatures[0].header.uuid", "does not match the payload uuid")


def test_payload_rules_are_reported_under_payload() -> None:
    doc = unsigned(dialog=[{"type": "text", "duration": -1, "parties": [3]}])
    refused = refuse(json.dumps(sign_jws(payload_of(doc), signer())))
    assert {v.path for v in refused.violations} == {
        "payload.dialog[0].duration",
        "payload.dialog[0].parties[0]",
    }


def test_a_signed_payload_without_uuid_is_refused_even_with_assign_uuid() -> None:
    doc = unsigned()
    del doc["uuid"]
    text = json.dumps(sign_jws(payload_of(doc), signer(uuid=None)))
    with pytest.raises(VconInvalid) as refused:
        validate_vcon_text(text, DEFAULT, assign_uuid=True)
    assert has(refused.value, "payload.uuid", "signed")


def test_gzipped_payload_when_cty_says_so() -> None:
    doc = unsigned(subject="zipped")
    s = signer()
    s.protected["cty"] = "application/vcon+gzip"
    text = json.dumps(sign_jws(gzip.compress(payload_of(doc)), s))
    assert validate_vcon_text(text, DEFAULT).document == doc
    bomb = unsigned(subject="x" * 200_000)
    text = json.dumps(sign_jws(gzip.compress(payload_of(bomb)), s))
    policy = ValidationPolicy(max_vcon_bytes=100_000)
    assert len(text) < 100_000
    assert has(refuse(text, policy), "payload", "inflates beyond 100000 bytes")


def test_payload_must_be_utf8_json() -> None:
    assert has(refuse(json.dumps(sign_jws(b"\xff\xfe", signer()))), "payload", "not UTF-8")
    not_json = refuse(json.dumps(sign_jws(b'{"uuid": ', signer())))
    assert not_json.reason == "VCON_NOT_JSON"
    assert not_json.violations[0].path == "payload"


def test_a_jws_inside_a_jws_is_unwrapped_and_both_verified() -> None:
    doc = unsigned()
    inner = sign_jws(payload_of(doc), signer("ES256", "p256"))
    outer = sign_jws(json.dumps(inner).encode(), signer())
    got = validate_vcon_text(json.dumps(outer), DEFAULT)
    assert (got.signed, got.document) == (True, doc)
    inner["signatures"][0]["signature"] = flip_byte(inner["signatures"][0]["signature"], 0)
    broken = sign_jws(json.dumps(inner).encode(), signer())
    assert has(refuse(json.dumps(broken)), "payload.signatures[0].signature", "does not verify")


# --- refusals of malformed or unverifiable JWSs ---------------------------------------------


def signed_then(change: Any) -> str:
    jws = sign_jws(payload_of(unsigned()), signer())
    change(jws)
    return json.dumps(jws)


def _set(path: list[str | int], value: Any) -> Any:
    def apply(jws: dict[str, Any]) -> None:
        node: Any = jws
        for key in path[:-1]:
            node = node[key]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return apply


def _protected(header: dict[str, Any]) -> Any:
    return _set(["signatures", 0, "protected"], b64url(json.dumps(header).encode()))


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (_set(["signatures", 0, "header", "x5c"], None), "signatures[0].protected", "no x5c"),
        (
            _set(["signatures", 0, "header"], {"x5u": "https://example.com/chain.pem"}),
            "signatures[0].header.x5u",
            "x5u fetching is not supported",
        ),
        (_protected({"alg": "HS256"}), "signatures[0].protected", 'unsupported alg "HS256"'),
        (_protected({"alg": "none"}), "signatures[0].protected", 'unsupported alg "none"'),
        (_protected({"alg": "ES256"}), "signatures[0].signature", "needs an EC"),
        (_protected({"alg": "RS256", "crit": ["exp"]}), "signatures[0].protected", "crit"),
        (_protected({}), "signatures[0].protected", "alg header parameter missing"),
        (
            _set(["signatures", 0, "header", "alg"], "RS512"),
            "signatures[0].header.alg",
            "differs from the protected header",
        ),
        (
            _set(["signatures", 0, "signature"], "not*base64"),
            "signatures[0].signature",
            "not valid base64url",
        ),
        (
            _set(["signatures", 0, "protected"], "e30*"),
            "signatures[0].protected",
            "not valid base64url",
        ),
        (
            _set(["signatures", 0, "protected"], b64url(b"[1]")),
            "signatures[0].protected",
            "not a JSON object",
        ),
        (
            _set(["signatures", 0, "protected"], b64url(b'{"alg": "RS256", "alg": "none"}')),
            "signatures[0].protected",
            'duplicate member name "alg"',
        ),
        (
            _set(["signatures", 0, "protected"], b64url(b'{"alg": ')),
            "signatures[0].protected",
            "not JSON",
        ),
        (_set(["payload"], "a"), "payload", "not valid base64url"),
        (_set(["payload"], 5), "payload", "must be a base64url string"),
        (
            _set(["signatures", 0, "header", "x5c"], ["not base64!"]),
            "signatures[0].header.x5c[0]",
            "not a base64 DER X.509 certificate",
        ),
        (
            _set(["signatures", 0, "header", "x5c"], [base64.b64encode(b"junk").decode()]),
            "signatures[0].header.x5c[0]",
            "not a base64 DER X.509 certificate",
        ),
        (
            _set(["signatures", 0, "header", "x5c"], "MII"),
            "signatures[0].header.x5c",
            "non-empty array of strings",
        ),
        (_set(["signatures", 0, "header"], "x"), "signatures[0].header", "must be an object"),
        (
            _set(["signatures", 0, "header", "uuid"], 5),
            "signatures[0].header.uuid",
            "must be a string",
        ),
        (_set(["signatures"], []), "signatures", "non-empty array"),
        (_set(["signatures", 0], "x"), "signatures[0]", "must be an object"),
    ],
)
def test_unverifiable_jws_is_refused(change: Any, path: str, message: str) -> None:
    refused = refuse(signed_then(change))
    assert refused.reason == "VCON_SIGNATURE_INVALID"
    assert has(refused, path, message), refused.violations


def test_signature_by_another_key_of_the_right_type_is_refused() -> None:
    jws = sign_jws(payload_of(unsigned()), signer())
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jws["signatures"][0]["header"]["x5c"] = x5c(certificate(impostor, "impostor"))
    assert has(refuse(json.dumps(jws)), "signatures[0].signature", "does not verify")


# --- forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["08", "16"])
def test_encrypted_corpus_files_are_refused(prefix: str) -> None:
    refused = refuse(corpus(prefix))
    assert refused.reason == "VCON_ENCRYPTED"
    message = refused.violations[0].message
    assert "encrypted" in message
    assert "cannot be stored" in message
    assert "decrypt" in message


@pytest.mark.parametrize(
    ("doc", "form"),
    [
        ({"payload": "x", "signatures": []}, "signed"),
        ({"payload": "x", "signature": "y", "protected": "z"}, "signed"),
        ({"ciphertext": "x", "recipients": [], "iv": "y"}, "encrypted"),
        ({"cyphertext": "x", "protected": "y"}, "encrypted"),
        ({"ciphertext": "x"}, "unsigned"),
        ({"payload": "x", "signatures": [], "parties": []}, "unsigned"),
        ({"ciphertext": "x", "iv": "y", "dialog": []}, "unsigned"),
        ({"uuid": UUID}, "unsigned"),
    ],
)
def test_detect_form(doc: dict[str, Any], form: str) -> None:
    assert detect_form(doc) == form


# --- chain trust ----------------------------------------------------------------------------


def corpus_07_chain() -> list[x509.Certificate]:
    header = json.loads(corpus("07"))["signatures"][0]["header"]
    return [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]


def test_corpus_07_is_trusted_only_when_its_own_root_is_an_anchor() -> None:
    text = corpus("07")
    root = corpus_07_chain()[-1]
    assert validate_vcon_text(text, ValidationPolicy(trust_anchors=(root,))).signed
    stranger = certificate(key_for("rsa"), "stranger root", ca=True)
    refused = refuse(text, ValidationPolicy(trust_anchors=(stranger,)))
    assert has(refused, "signatures[0].header.x5c", "does not lead to a configured trust anchor")


def test_chain_trust_is_off_by_default() -> None:
    assert DEFAULT.trust_anchors == ()
    assert validate_vcon_text(corpus("07"), DEFAULT).signed


def chained_jws(*chain_keys: tuple[PrivateKey, x509.Certificate]) -> dict[str, Any]:
    """A JWS signed by the first key, with the given chain (leaf first) in x5c."""
    key, _ = chain_keys[0]
    s = Signer(
        "ES256",
        key,
        [c for _, c in chain_keys],
        {"alg": "ES256"},
        {"x5c": x5c(*(c for _, c in chain_keys))},
    )
    return sign_jws(payload_of(unsigned()), s)


def pki(
    *,
    intermediate_is_ca: bool = True,
    root_path_length: int | None = None,
    root_not_after: datetime = NOW + timedelta(days=30),
    leaf_not_after: datetime = NOW + timedelta(days=30),
) -> tuple[x509.Certificate, dict[str, Any]]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = certificate(
        root_key, "root", ca=True, path_length=root_path_length, not_after=root_not_after
    )
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = certificate(mid_key, "intermediate", issuer=(root_key, root), ca=intermediate_is_ca)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(leaf_key, "leaf", issuer=(mid_key, mid), ca=False, not_after=leaf_not_after)
    return root, chained_jws((leaf_key, leaf), (mid_key, mid))


def test_a_chain_leading_to_the_anchor_is_trusted() -> None:
    root, jws = pki()
    assert validate_vcon_text(json.dumps(jws), ValidationPolicy(trust_anchors=(root,))).signed


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"intermediate_is_ca": False}, "not a CA"),
        ({"root_path_length": 0}, "path length 1 exceeds the issuer's limit 0"),
        ({"leaf_not_after": NOW - timedelta(hours=1)}, "is not valid at"),
    ],
)
def test_an_untrustworthy_chain_is_refused(settings: dict[str, Any], message: str) -> None:
    root, jws = pki(**settings)
    with pytest.raises(VconInvalid) as refused:
        verify_jws(jws, max_payload_bytes=10**6, trust_anchors=[root])
    assert has(refused.value, "signatures[0].header.x5c", message), refused.value.violations
    # The signatures themselves are fine: without anchors the JWS verifies.
    verify_jws(jws, max_payload_bytes=10**6)


def test_a_self_signed_certificate_can_be_its_own_anchor() -> None:
    s = signer("ES256", "p256")
    jws = sign_jws(payload_of(unsigned()), s)
    assert validate_vcon_text(json.dumps(jws), ValidationPolicy(trust_anchors=(s.chain[0],)))
    other = signer("ES384", "p384").chain[0]
    refuse(json.dumps(jws), ValidationPolicy(trust_anchors=(other,)))


def test_an_expired_anchor_does_not_issue() -> None:
    root, jws = pki(root_not_after=NOW + timedelta(days=2))
    later = NOW + timedelta(days=3)  # the leaf and intermediate are still valid
    assert verify_jws(jws, max_payload_bytes=10**6, trust_anchors=[root])
    with pytest.raises(VconInvalid) as refused:
        verify_jws(jws, max_payload_bytes=10**6, trust_anchors=[root], now=later)
    assert has(refused.value, "signatures[0].header.x5c", "does not lead to a configured trust")
