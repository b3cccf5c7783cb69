"""COSE_Sign1 (RFC 9052) over a strict CBOR subset, for signed statements and
RFC 9942 receipts.

Labels (the contract between the ledger, its issuers and its verifiers)
-----------------------------------------------------------------------
Header parameters:   alg 1, crit 2, content type 3, kid 4,
                     CWT claims 15 (RFC 9597; claims iss 1, sub 2, iat 6),
                     receipts 394, vds 395, vdp 396 (RFC 9942),
                     TREE_SIZE -65537 (private use: the tree size a receipt's
                     signed root is for; RFC 9942 puts tree_size and
                     leaf_index unsigned in the unprotected header, so a
                     verifier needs this protected copy to trust the size).
Values:              ES256 = -7; vds RFC9162_SHA256 = 1;
                     vdp inclusion proofs -1, consistency proofs -2.
kid:                 the RFC 9679 COSE Key thumbprint (SHA-256) of the signer's
                     P-256 key, 32 bytes (see keys.py).
ES256 signatures:    raw r || s, 32 bytes each, big-endian (RFC 9053 2.1),
                     never DER.

What the decoder accepts
------------------------
`decode_sign1` reads a tagged COSE_Sign1: tag 18, then an array of exactly
four items: protected (a bstr, empty or holding one CBOR map), unprotected (a
map), payload (a bstr, or nil when detached), signature (a bstr). It accepts
only this CBOR subset, and raises FormatError for anything else, whatever the
bytes (no other exception escapes it):
- definite lengths only, every integer and length in its shortest form
  (RFC 8949 preferred serialization);
- unsigned and negative integers up to 64 bits, byte strings, UTF-8 text
  strings, arrays, maps whose keys are integers or text strings (no duplicate
  keys), false, true and null; no floats, no undefined or other simple values,
  no tags other than the outer 18;
- at most 64 KiB in all, nesting at most 16 deep, nothing after the item.

What the encoder writes
-----------------------
`encode_cbor` writes RFC 8949 Section 4.2.1 core deterministic encoding:
shortest heads, definite lengths, map keys sorted by the bytewise order of
their encodings. (cbor2's `canonical=True` is not that: it sorts map keys
length-first, the RFC 7049 "canonical CBOR" order of RFC 8949 Section 4.2.3;
the two differ for keys such as 100 and -1.)

Signatures (RFC 9052 Section 4.4): the signer signs
    Sig_structure = ["Signature1", protected bytes, external_aad, payload]
encoded as above, with external_aad = h'' and, for a detached payload, the
payload the verifier supplies (for a receipt: the Merkle tree root).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from vconstore_client.transparency.errors import FormatError, SignatureError

__all__ = [
    "ALG",
    "ALG_ES256",
    "CONTENT_TYPE",
    "CRIT",
    "CWT_CLAIMS",
    "CWT_IAT",
    "CWT_ISS",
    "CWT_SUB",
    "KID",
    "MAX_SIGN1_BYTES",
    "RECEIPTS",
    "TREE_SIZE",
    "VDP",
    "VDP_CONSISTENCY",
    "VDP_INCLUSION",
    "VDS",
    "VDS_RFC9162_SHA256",
    "Sign1",
    "decode_cbor",
    "decode_sign1",
    "encode_cbor",
    "sig_structure",
    "verify_es256",
]

# Header parameters (IANA COSE Header Parameters; RFC 9052, 9597, 9942).
ALG = 1
CRIT = 2
CONTENT_TYPE = 3
KID = 4
CWT_CLAIMS = 15
RECEIPTS = 394
VDS = 395
VDP = 396
# Private use (the RFC 9052 COSE Header Parameters registry leaves integers
# below -65536 to private use): the signed tree size.
TREE_SIZE = -65537

# CWT claims (RFC 8392).
CWT_ISS = 1
CWT_SUB = 2
CWT_IAT = 6

# Values.
ALG_ES256 = -7
VDS_RFC9162_SHA256 = 1
VDP_INCLUSION = -1
VDP_CONSISTENCY = -2

SIGN1_TAG = 18
MAX_SIGN1_BYTES = 64 * 1024
MAX_DEPTH = 16
ES256_SIGNATURE_BYTES = 64

Label = int | str


@dataclass(frozen=True)
class Sign1:
    """A decoded COSE_Sign1. `protected_bytes` are the bytes as received (what
    was signed); `protected` is their decoded map ({} when empty)."""

    protected_bytes: bytes
    protected: dict[Label, Any]
    unprotected: dict[Label, Any]
    payload: bytes | None
    signature: bytes


# --- decoding ---------------------------------------------------------------------------


class _Decoder:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)

    def fail(self, message: str) -> NoReturn:
        raise FormatError(f"{message} (CBOR byte {self.pos})")

    def take(self, count: int) -> bytes:
        if count > self.end - self.pos:
            self.fail("truncated CBOR")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def head(self) -> tuple[int, int, int]:
        """(major type, additional information, argument) of the next item."""
        if self.pos >= self.end:
            self.fail("truncated CBOR")
        initial = self.data[self.pos]
        self.pos += 1
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return major, info, info  # simple values and floats: the caller decides
        if info < 24:
            return major, info, info
        if info > 27:
            self.fail("indefinite length" if info == 31 else "reserved CBOR additional information")
        width = 1 << (info - 24)
        argument = int.from_bytes(self.take(width), "big")
        if argument < (24 if width == 1 else 1 << (4 * width)):
            self.fail("CBOR integer or length not in its shortest form")
        return major, info, argument

    def item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.fail(f"CBOR nested deeper than {MAX_DEPTH}")
        major, info, argument = self.head()
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self.take(argument)
        if major == 3:
            raw = self.take(argument)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("text string is not valid UTF-8")
        if major == 4:
            if argument > self.end - self.pos:  # each item takes at least one byte
                self.fail("truncated CBOR")
            return [self.item(depth + 1) for _ in range(argument)]
        if major == 5:
            if argument > (self.end - self.pos) // 2:
                self.fail("truncated CBOR")
            result: dict[Label, Any] = {}
            for _ in range(argument):
                key_at = self.pos
                key = self.item(depth + 1)
                if not isinstance(key, int | str) or isinstance(key, bool):
                    self.pos = key_at
                    self.fail("map key is not an integer or a text string")
                if key in result:
                    self.pos = key_at
                    self.fail(f"duplicate map key {key!r}")
                result[key] = self.item(depth + 1)
            return result
        if major == 6:
            self.fail(f"unexpected CBOR tag {argument}")
        # major 7
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info in (25, 26, 27):
            self.fail("floating-point values are not allowed")
        if info == 31:
            self.fail("unexpected CBOR break")
        self.fail("unsupported CBOR simple value")


def _check_size(data: bytes, limit: int) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > limit:
        raise FormatError(f"{len(data)} bytes, more than the {limit} allowed")
    return bytes(data)


def decode_cbor(data: bytes, *, max_bytes: int = MAX_SIGN1_BYTES) -> Any:
    """One CBOR item of the strict subset above (no tags), with nothing after
    it. Byte strings come back as bytes, arrays as lists, maps as dicts."""
    decoder = _Decoder(_check_size(data, max_bytes))
    value = decoder.item(0)
    if decoder.pos != decoder.end:
        decoder.fail("trailing bytes after the CBOR item")
    return value


def decode_sign1(data: bytes) -> Sign1:
    """Decode a tagged COSE_Sign1 strictly (see the module docstring); raises
    FormatError, and only FormatError, for bytes that are not one."""
    decoder = _Decoder(_check_size(data, MAX_SIGN1_BYTES))
    if decoder.end == 0:
        decoder.fail("empty input")
    major, _, tag = decoder.head()
    if major != 6 or tag != SIGN1_TAG:
        decoder.pos = 0
        decoder.fail("not a tagged COSE_Sign1 (CBOR tag 18)")
    value = decoder.item(1)
    if decoder.pos != decoder.end:
        decoder.fail("trailing bytes after the COSE_Sign1")
    if not isinstance(value, list) or len(value) != 4:
        raise FormatError("COSE_Sign1 is not an array of four items")
    protected_bytes, unprotected, payload, signature = value
    if not isinstance(protected_bytes, bytes):
        raise FormatError("COSE_Sign1 protected header is not a byte string")
    if not isinstance(unprotected, dict):
        raise FormatError("COSE_Sign1 unprotected header is not a map")
    if payload is not None and not isinstance(payload, bytes):
        raise FormatError("COSE_Sign1 payload is neither a byte string nor nil")
    if not isinstance(signature, bytes):
        raise FormatError("COSE_Sign1 signature is not a byte string")
    protected: Any = {}
    if protected_bytes:
        try:
            protected = decode_cbor(protected_bytes)
        except FormatError as error:
            raise FormatError(f"COSE_Sign1 protected header: {error}") from None
        if not isinstance(protected, dict):
            raise FormatError("COSE_Sign1 protected header does not hold a map")
    overlap = protected.keys() & unprotected.keys()
    if overlap:
        raise FormatError(
            f"header label {sorted(overlap, key=str)[0]!r} is both protected and unprotected"
        )
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


# --- encoding ---------------------------------------------------------------------------


def _head(major: int, argument: int, out: bytearray) -> None:
    if argument < 24:
        out.append(major << 5 | argument)
    elif argument < 1 << 8:
        out += bytes((major << 5 | 24, argument))
    elif argument < 1 << 16:
        out.append(major << 5 | 25)
        out += argument.to_bytes(2, "big")
    elif argument < 1 << 32:
        out.append(major << 5 | 26)
        out += argument.to_bytes(4, "big")
    elif argument < 1 << 64:
        out.append(major << 5 | 27)
        out += argument.to_bytes(8, "big")
    else:
        raise ValueError("integer or length beyond 64 bits")


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if value >= 0:
            _head(0, value, out)
        else:
            _head(1, -1 - value, out)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        _head(2, len(raw), out)
        out += raw
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _head(3, len(raw), out)
        out += raw
    elif isinstance(value, list | tuple):
        _head(4, len(value), out)
        for element in value:
            _encode(element, out)
    elif isinstance(value, Mapping):
        pairs = sorted((encode_cbor(key), encode_cbor(item)) for key, item in value.items())
        _head(5, len(pairs), out)
        for key_bytes, item_bytes in pairs:
            out += key_bytes
            out += item_bytes
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def encode_cbor(value: Any) -> bytes:
    """RFC 8949 Section 4.2.1 deterministic CBOR of None, bool, int, bytes,
    str, list/tuple and mappings thereof."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The bytes an ES256 COSE_Sign1 signature covers (RFC 9052 Section 4.4)."""
    return encode_cbor(["Signature1", protected_bytes, external_aad, payload])


# --- verification -----------------------------------------------------------------------


def verify_es256(
    public_key: ec.EllipticCurvePublicKey,
    sign1: Sign1,
    detached_payload: bytes | None = None,
) -> None:
    """Verify an ES256 COSE_Sign1 signature; raises SignatureError. The
    protected header must say alg ES256. A nil payload needs `detached_payload`."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise SignatureError("the verification key is not a P-256 public key")
    if sign1.protected.get(ALG) != ALG_ES256:
        raise SignatureError("protected header alg is not ES256 (-7)")
    if sign1.payload is None:
        if detached_payload is None:
            raise SignatureError("the payload is detached and none was supplied")
        payload = detached_payload
    else:
        if detached_payload is not None:
            raise SignatureError("the payload is attached; a detached one was also supplied")
        payload = sign1.payload
    if len(sign1.signature) != ES256_SIGNATURE_BYTES:
        raise SignatureError(
            f"an ES256 signature is {ES256_SIGNATURE_BYTES} bytes, not {len(sign1.signature)}"
        )
    r = int.from_bytes(sign1.signature[:32], "big")
    s = int.from_bytes(sign1.signature[32:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s),
            sig_structure(sign1.protected_bytes, payload),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise SignatureError("the COSE signature does not verify") from None
