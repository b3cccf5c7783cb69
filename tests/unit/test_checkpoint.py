"""C2SP tlog-checkpoint signed notes: written by vconstore.ledger.checkpoint,
verified by vconstore_client.transparency.checkpoint, and checked against
real ECDSA (type 0x02) notes signed by other logs."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vconstore.ledger.checkpoint import signed_checkpoint
from vconstore.ledger.signing import SigningKey
from vconstore_client.transparency.checkpoint import (
    Checkpoint,
    note_key_id,
    note_verifier_key,
    parse_checkpoint,
    verify_checkpoint,
)
from vconstore_client.transparency.errors import FormatError, SignatureError

ORIGIN = "ledger.example/vcons"
KEY = SigningKey.generate()
ROOT = hashlib.sha256(b"root").digest()
NOTE = signed_checkpoint(KEY, origin=ORIGIN, size=42, root=ROOT)


def _line(name: str, key_id: bytes, signature: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(key_id + signature).decode()}\n"


def _with_lines(note: str, *lines: str, first: bool = False) -> str:
    text, _, signatures = note.partition("\n\n")
    if first:
        return text + "\n\n" + "".join(lines) + signatures
    return note + "".join(lines)


def test_round_trip() -> None:
    expected = Checkpoint(ORIGIN, 42, ROOT)
    assert verify_checkpoint(NOTE, KEY.public_key) == expected
    assert verify_checkpoint(NOTE, KEY.public_key, origin=ORIGIN) == expected
    assert parse_checkpoint(NOTE) == expected


def test_exact_text_format() -> None:
    lines = NOTE.split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(ROOT).decode(), ""]
    assert lines[-1] == ""
    assert len(lines) == 6
    match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/]+=*)", lines[4])
    assert match is not None
    assert match[1] == ORIGIN
    raw = base64.b64decode(match[2])
    spki = KEY.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # C2SP signed-note type 0x02: key ID = SHA-256(DER SPKI)[:4].
    assert raw[:4] == hashlib.sha256(spki).digest()[:4] == note_key_id(ORIGIN, KEY.public_key)
    # The signature is ASN.1 DER ECDSA P-256 SHA-256 over the note text.
    text = f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    assert NOTE.startswith(text + "\n")
    assert raw[4] == 0x30 and 8 <= len(raw) - 4 <= 72
    KEY.public_key.verify(raw[4:], text.encode(), ec.ECDSA(hashes.SHA256()))
    assert NOTE.encode("utf-8").count("\u2014".encode()) == 1


def test_empty_tree_checkpoint() -> None:
    empty = hashlib.sha256(b"").digest()
    note = signed_checkpoint(KEY, origin=ORIGIN, size=0, root=empty)
    assert note.split("\n")[1] == "0"
    assert verify_checkpoint(note, KEY.public_key) == Checkpoint(ORIGIN, 0, empty)


def test_go_verifier_key_form() -> None:
    vkey = note_verifier_key(ORIGIN, KEY.public_key)
    name, key_hash, material = vkey.split("+", 2)
    assert name == ORIGIN
    assert bytes.fromhex(key_hash) == note_key_id(ORIGIN, KEY.public_key)
    decoded = base64.b64decode(material)
    assert decoded[0] == 0x02
    loaded = serialization.load_der_public_key(decoded[1:])
    assert loaded == KEY.public_key


# Real notes from other logs, from transparency-dev/formats note/note_verifier_test.go
# (Apache-2.0): Sigstore's Rekor key and the Pixel 6 transparency log key.
FOREIGN = [
    (
        "rekor.sigstore.dev",
        "c0d23d6a",
        "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l"
        "+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
        "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n\u2014 rekor.sigstore.dev "
        "wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoT"
        "URUCRdxwWBHHufk=\n",
        Checkpoint(
            "Rekor", 798034, base64.b64decode("f+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=")
        ),
    ),
    (
        "pixel6_transparency_log",
        "91c16e30",
        "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3Av"
        "yW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=",
        "DEFAULT\n10\nbsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=\n\n"
        "\u2014 pixel6_transparency_log "
        "kcFuMDBFAiEAhqMAP8P6qf6QxtUJhzMhbN+MbZ9dwfUHzGQJmffJHtoCIGD0cNe47dHWBoPwYdgBCepB06/+"
        "g5O1FmYjXl06owL4\n",
        Checkpoint("DEFAULT", 10, base64.b64decode("bsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=")),
    ),
]


@pytest.mark.parametrize(
    ("name", "key_hash", "material", "note", "expected"), FOREIGN, ids=[f[0] for f in FOREIGN]
)
def test_real_ecdsa_notes_of_other_logs_verify(
    name: str, key_hash: str, material: str, note: str, expected: Checkpoint
) -> None:
    """Our key ID, verifier key and signature check agree with the Go
    implementation that C2SP names for signature type 0x02."""
    public_key = serialization.load_der_public_key(base64.b64decode(material)[1:])
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert note_key_id(name, public_key).hex() == key_hash
    assert note_verifier_key(name, public_key) == f"{name}+{key_hash}+{material}"
    assert verify_checkpoint(note, public_key, key_name=name) == expected
    # Their key name is not their origin line; under the origin it is an unknown key.
    with pytest.raises(SignatureError, match="no signature"):
        verify_checkpoint(note, public_key)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(
            note.replace("\n798034\n", "\n798035\n").replace("\n10\n", "\n11\n"),
            public_key,
            key_name=name,
        )


def test_lines_of_unknown_keys_are_ignored() -> None:
    other = SigningKey.generate()
    witness = signed_checkpoint(other, origin="witness.example/w1", size=42, root=ROOT)
    witness_line = witness.split("\n\n")[1]
    same_name_other_key = signed_checkpoint(other, origin=ORIGIN, size=42, root=ROOT)
    impostor_line = same_name_other_key.split("\n\n")[1]
    # An unknown signature type (Ed25519-sized) under another name.
    ed25519_line = _line("witness.example/ed", b"\x01\x02\x03\x04", bytes(64))
    for note in (
        _with_lines(NOTE, witness_line),
        _with_lines(NOTE, witness_line, first=True),
        _with_lines(NOTE, impostor_line, first=True),
        _with_lines(NOTE, ed25519_line, witness_line),
    ):
        assert verify_checkpoint(note, KEY.public_key) == Checkpoint(ORIGIN, 42, ROOT)
    # The other key verifies its own line in the same note, and ignores ours.
    both = _with_lines(NOTE, impostor_line)
    assert verify_checkpoint(both, other.public_key) == Checkpoint(ORIGIN, 42, ROOT)


def test_a_note_without_a_line_from_the_key_fails() -> None:
    other = SigningKey.generate()
    with pytest.raises(SignatureError, match="no signature"):
        verify_checkpoint(NOTE, other.public_key)
    only_witness = signed_checkpoint(other, origin="witness.example", size=1, root=ROOT)
    with pytest.raises(SignatureError, match="no signature"):
        verify_checkpoint(only_witness, KEY.public_key, key_name=ORIGIN)


def test_tampered_checkpoints_fail() -> None:
    root_b64 = base64.b64encode(ROOT).decode()
    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    for tampered in (
        NOTE.replace("\n42\n", "\n43\n"),
        NOTE.replace("\n42\n", "\n4\n"),
        NOTE.replace(root_b64, other_root),
    ):
        with pytest.raises(SignatureError, match="does not verify"):
            verify_checkpoint(tampered, KEY.public_key)
    # Another origin: the key name changes with it, so the line is unknown.
    renamed = NOTE.replace(ORIGIN, "ledger.example/other")
    with pytest.raises(SignatureError):
        verify_checkpoint(renamed, KEY.public_key)
    with pytest.raises(FormatError, match="origin"):
        verify_checkpoint(NOTE, KEY.public_key, origin="ledger.example/other")


def test_every_signature_byte_flip_fails() -> None:
    text, _, line = NOTE.partition("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    for at in range(len(raw)):
        for bit in (0, 3, 7):
            mutated = bytearray(raw)
            mutated[at] ^= 1 << bit
            note = f"{text}\n\n{prefix} {base64.b64encode(bytes(mutated)).decode()}\n"
            # A flip in the key ID makes the line unknown; elsewhere it fails to verify.
            with pytest.raises(SignatureError):
                verify_checkpoint(note, KEY.public_key)


MALFORMED = {
    "no blank line": f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n",
    "no final newline": NOTE[:-1],
    "no signature lines": NOTE.split("\n\n")[0] + "\n\n",
    "hyphen, not em dash": NOTE.replace("\u2014", "-"),
    "carriage return": NOTE.replace("\n42\n", "\n42\r\n"),
    "tab": NOTE.replace(ORIGIN + "\n", ORIGIN + "\t\n", 1),
    "leading zero": NOTE.replace("\n42\n", "\n042\n"),
    "negative size": NOTE.replace("\n42\n", "\n-42\n"),
    "size with sign": NOTE.replace("\n42\n", "\n+42\n"),
    "size not a number": NOTE.replace("\n42\n", "\nforty-two\n"),
    "root unpadded": NOTE.replace(
        base64.b64encode(ROOT).decode(), base64.b64encode(ROOT).decode().rstrip("=")
    ),
    "root url-safe": NOTE.replace(
        base64.b64encode(ROOT).decode(), base64.urlsafe_b64encode(ROOT).decode()
    )
    if base64.urlsafe_b64encode(ROOT) != base64.b64encode(ROOT)
    else "x",
    "root 31 bytes": NOTE.replace(
        base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode()
    ),
    "two lines of text": f"{ORIGIN}\n42\n\n" + NOTE.split("\n\n")[1],
    "empty extension line": NOTE.replace("=\n\n", "=\n\n\n", 1),
    "empty origin": NOTE.replace(ORIGIN + "\n", "\n", 1),
    "signature not base64": NOTE.rsplit(" ", 1)[0] + " !!!!\n",
    "signature too short": NOTE.rsplit(" ", 1)[0] + " AAAA\n",
    "name with space": NOTE.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN} x "),
    "too many signatures": NOTE + NOTE.split("\n\n")[1] * 64,
    "oversized": "x" * 70000 + NOTE,
    "not text": "",
}


@pytest.mark.parametrize("note", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_notes_raise_format_error(note: str) -> None:
    with pytest.raises(FormatError):
        verify_checkpoint(note, KEY.public_key)
    with pytest.raises(FormatError):
        parse_checkpoint(note)


def test_extension_lines_are_read_and_signed() -> None:
    # Not written by the ledger, but allowed by tlog-checkpoint: they are part
    # of the signed text.
    text = f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\nextension\n"
    signature = KEY.sign_der(text.encode())
    note = text + "\n" + _line(ORIGIN, note_key_id(ORIGIN, KEY.public_key), signature)
    assert verify_checkpoint(note, KEY.public_key) == Checkpoint(ORIGIN, 42, ROOT)
    with pytest.raises(SignatureError):
        verify_checkpoint(note.replace("extension", "extensioN"), KEY.public_key)


def test_signing_refuses_bad_input() -> None:
    for origin in ("", "has space", "has+plus", "new\nline"):
        with pytest.raises(ValueError):
            signed_checkpoint(KEY, origin=origin, size=1, root=ROOT)
    with pytest.raises(ValueError):
        signed_checkpoint(KEY, origin=ORIGIN, size=-1, root=ROOT)
    with pytest.raises(ValueError):
        signed_checkpoint(KEY, origin=ORIGIN, size=1, root=ROOT[:31])
