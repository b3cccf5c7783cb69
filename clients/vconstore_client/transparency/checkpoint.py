"""C2SP tlog-checkpoint signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).

Format (the contract)
---------------------
    <origin>\\n
    <tree size, decimal, no leading zeros>\\n
    <base64 (RFC 4648 standard, padded) of the 32-byte RFC 9162 root>\\n
    \\n
    — <key name> <base64(4-byte key ID || signature)>\\n      (one or more lines)

The note text is the first three lines including the final newline (a
checkpoint may carry further non-empty "extension" lines; the ledger writes
none, the parser accepts and ignores them). The key name is the origin.

Signature type: C2SP signed-note assigns 0x02 to "ECDSA signatures as
implemented by github.com/transparency-dev/witness" (P-256 SHOULD), and says
that "the key ID for these signatures is the truncated SHA-256 hash of the DER
encoded public key in SPKI format" -- not the generic recommendation
SHA-256(name || 0x0A || type || key)[:4] used by Ed25519 (type 0x01). The
transparency-dev implementation (formats/note, also Sigstore Rekor's
checkpoints) signs SHA-256(note text) with ECDSA and writes the ASN.1 DER
signature. So, for the ledger's P-256 key:
    key ID    = SHA-256(DER SubjectPublicKeyInfo)[:4]
    signature = DER ECDSA-P256-SHA256 over the UTF-8 note text
and its Go verifier key (transparency-dev/formats note.NewECDSAVerifier) is
    <name>+<key ID, 8 hex digits>+base64(0x02 || DER SubjectPublicKeyInfo)
(`note_verifier_key`).

Verification follows signed-note: lines from unknown keys (another name or
key ID: witnesses' cosignatures, a rotated key) are ignored; a line from the
given key that does not verify rejects the note; at least one line from the
given key must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vconstore_client.transparency.errors import FormatError, ProofError, SignatureError
from vconstore_client.transparency.keys import require_p256
from vconstore_client.transparency.merkle import verify_consistency_proof

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURE_LINES",
    "SIGNATURE_TYPE_ECDSA",
    "Checkpoint",
    "checkpoint_text",
    "note_key_id",
    "note_verifier_key",
    "parse_checkpoint",
    "split_note",
    "verify_checkpoint",
    "verify_checkpoint_consistency",
]

SIGNATURE_TYPE_ECDSA = 0x02
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURE_LINES = 64  # signed-note: verifiers MUST accept at least 16
_EM_DASH = "\u2014"
_HASH_BYTES = 32
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
# Key names: non-empty, no Unicode spaces, no '+' (signed-note).
_SIGNATURE_LINE = re.compile(r"\u2014 (?P<name>[^\s+]+) (?P<sig>[A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: `size` leaves under `root`, as signed by `origin`."""

    origin: str
    size: int
    root: bytes


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (padded, canonical)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError("not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise FormatError("not canonical base64")
    return raw


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The note text of a checkpoint (what its signatures cover)."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(note text, [(key name, key ID || signature)]) of a signed note;
    FormatError when it is not one."""
    if not isinstance(note, str):
        raise FormatError("a signed note is text")
    if len(note) > MAX_NOTE_BYTES:
        raise FormatError(f"signed note longer than {MAX_NOTE_BYTES} bytes")
    try:
        encoded = note.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError("signed note is not valid UTF-8") from None
    if len(encoded) > MAX_NOTE_BYTES:
        raise FormatError(f"signed note longer than {MAX_NOTE_BYTES} bytes")
    if _CONTROL.search(note) is not None:
        raise FormatError("signed note holds a control character other than newline")
    if not note.endswith("\n"):
        raise FormatError("signed note does not end with a newline")
    separator = note.rfind("\n\n")
    if separator < 0:
        raise FormatError("signed note has no blank line before its signatures")
    text = note[: separator + 1]
    lines = note[separator + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURE_LINES:
        raise FormatError(f"signed note has more than {MAX_SIGNATURE_LINES} signatures")
    signatures = []
    for line in lines:
        match = _SIGNATURE_LINE.fullmatch(line)
        if match is None:
            raise FormatError(f"malformed signature line {line[:80]!r}")
        raw = _b64decode(match["sig"])
        if len(raw) < 5:
            raise FormatError("signature line too short for a key ID and a signature")
        signatures.append((match["name"], raw))
    return text, signatures


def _parse_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("checkpoint text has fewer than three lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise FormatError("checkpoint origin is empty")
    if _SIZE.fullmatch(size_text) is None or int(size_text) >= 1 << 63:
        raise FormatError(f"checkpoint tree size {size_text[:40]!r} is not a decimal size")
    try:
        root = _b64decode(root_text)
    except FormatError as error:
        raise FormatError(f"checkpoint root hash: {error}") from None
    if len(root) != _HASH_BYTES:
        raise FormatError(f"checkpoint root hash is {len(root)} bytes, expected 32")
    if any(not line for line in extensions):
        raise FormatError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size_text), root)


def parse_checkpoint(note: str) -> Checkpoint:
    """The checkpoint a signed note states, WITHOUT checking any signature (use
    verify_checkpoint for anything to be trusted). FormatError if malformed."""
    text, _ = split_note(note)
    return _parse_text(text)


def _spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return require_p256(public_key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def note_key_id(name: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 4-byte signed-note key ID of an ECDSA (type 0x02) key:
    SHA-256(DER SubjectPublicKeyInfo)[:4]. For this signature type C2SP hashes
    neither the key name nor the type byte; `name` is taken so that callers
    need not know that, and only checked to be a valid key name."""
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise ValueError(f"invalid signed-note key name {name!r}")
    return hashlib.sha256(_spki(public_key)).digest()[:4]


def note_verifier_key(name: str, public_key: ec.EllipticCurvePublicKey) -> str:
    """The key in the Go note verifier form, for witnesses and Go tooling:
    `<name>+<key ID hex>+base64(0x02 || DER SPKI)`."""
    key_id = note_key_id(name, public_key)
    encoded = base64.b64encode(bytes([SIGNATURE_TYPE_ECDSA]) + _spki(public_key)).decode("ascii")
    return f"{name}+{key_id.hex()}+{encoded}"


def verify_checkpoint(
    note: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    origin: str | None = None,
    key_name: str | None = None,
) -> Checkpoint:
    """Verify a checkpoint signed by the log key `public_key` under `key_name`
    (by default the checkpoint's origin, as the ledger signs). The origin must
    equal `origin` when given. Lines of other keys are ignored. Raises
    FormatError or SignatureError."""
    text, signatures = split_note(note)
    checkpoint = _parse_text(text)
    if origin is not None and checkpoint.origin != origin:
        raise FormatError(f"checkpoint origin is {checkpoint.origin!r}, expected {origin!r}")
    key = require_p256(public_key)
    name_wanted = checkpoint.origin if key_name is None else key_name
    try:
        key_id = note_key_id(name_wanted, key)
    except ValueError as error:
        raise FormatError(str(error)) from None
    message = text.encode("utf-8")
    verified = False
    for name, raw in signatures:
        if name != name_wanted or raw[:4] != key_id:
            continue  # another key: a witness, a retired or a future log key
        try:
            key.verify(raw[4:], message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureError("the checkpoint signature does not verify") from None
        verified = True
    if not verified:
        raise SignatureError(f"the checkpoint has no signature from the key of {name_wanted}")
    return checkpoint


def verify_checkpoint_consistency(
    older: str,
    newer: str,
    proof: Sequence[bytes],
    public_key: ec.EllipticCurvePublicKey,
    *,
    origin: str | None = None,
) -> tuple[Checkpoint, Checkpoint]:
    """What an auditor or witness checks between two checkpoints it was shown:
    both are signed by the log key, name the same log, and the RFC 9162
    consistency proof (GetConsistencyProof between their sizes) shows that the
    newer tree extends the older one, so nothing was rewritten in between.
    Two checkpoints of one size must have the same root. Raises FormatError,
    SignatureError or ProofError."""
    first = verify_checkpoint(older, public_key, origin=origin)
    second = verify_checkpoint(newer, public_key, origin=first.origin)
    if first.size > second.size:
        raise FormatError(
            f"the older checkpoint has size {first.size}, more than the newer {second.size}"
        )
    if first.size == 0:
        # Every tree extends the empty one; RFC 9162 has no proof for it.
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return first, second
    verify_consistency_proof(first.size, second.size, first.root, second.root, proof)
    return first, second
