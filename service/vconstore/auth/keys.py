"""The API key format: `vcs_live_sk_` and 40 base62 characters from `secrets`
(238 bits). Only a hash is ever stored; the first 16 characters are the key's
public prefix, shown in listings so a person can tell keys apart.

SHA-256, not a slow password hash: a key is random with far more than 128
bits of entropy, so it cannot be guessed from its hash, and hashing it on
every call must stay cheap (~1 µs).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import Final

__all__ = [
    "KEY_PATTERN",
    "KEY_PREFIX",
    "PREFIX_LENGTH",
    "generate_key",
    "hashes_match",
    "is_well_formed",
    "key_hash",
    "key_id",
    "public_prefix",
]

KEY_PREFIX: Final = "vcs_live_sk_"
KEY_PATTERN: Final = re.compile(r"vcs_live_sk_[A-Za-z0-9]{32,64}")
PREFIX_LENGTH: Final = 16
_GENERATED_LENGTH: Final = 40
_ALPHABET: Final = string.ascii_letters + string.digits


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_GENERATED_LENGTH))


def is_well_formed(text: str) -> bool:
    return KEY_PATTERN.fullmatch(text) is not None


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def hashes_match(stored: bytes, presented: bytes) -> bool:
    """Constant time: how long a comparison takes says nothing of the bytes."""
    return hmac.compare_digest(stored, presented)


def public_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def key_id() -> str:
    """The id a key is listed and revoked by (as the hosted service: `key_...`)."""
    return "key_" + secrets.token_hex(12)
