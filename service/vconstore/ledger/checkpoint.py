"""C2SP tlog-checkpoint signed notes of the ledger's tree heads.

Format and signature type: see vconstore_client.transparency.checkpoint (the
verifier). In short:

    <origin>\\n<size>\\n<base64 root>\\n\\n— <origin> <base64(key ID || DER sig)>\\n

signature type 0x02 (ECDSA, as transparency-dev/witness implements it): key
ID = SHA-256(DER SubjectPublicKeyInfo)[:4], signature = DER ECDSA P-256
SHA-256 over the note text (the first three lines). The key name is the origin.
"""

from __future__ import annotations

import base64

from vconstore.ledger.signing import SigningKey
from vconstore_client.transparency.checkpoint import checkpoint_text, note_key_id

__all__ = ["signed_checkpoint"]

_HASH_BYTES = 32


def signed_checkpoint(key: SigningKey, *, origin: str, size: int, root: bytes) -> str:
    """The checkpoint of the tree of `size` leaves with `root`, signed by `key`
    under the key name `origin`."""
    if not isinstance(size, int) or size < 0:
        raise ValueError("a tree size is a non-negative integer")
    if len(root) != _HASH_BYTES:
        raise ValueError("a tree root is 32 bytes")
    if any(ord(c) < 0x20 for c in origin):
        raise ValueError("the origin holds a control character")
    key_id = note_key_id(origin, key.public_key)  # ValueError for spaces or '+'
    text = checkpoint_text(origin, size, bytes(root))
    signature = base64.b64encode(key_id + key.sign_der(text.encode("utf-8"))).decode("ascii")
    return f"{text}\n\u2014 {origin} {signature}\n"
