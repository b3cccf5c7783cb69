"""Opaque, tamper-proof page tokens for keyset pagination (AIP-158).

A token carries the keyset position (created_at, uuid) and a fingerprint of
the filter it was issued for, authenticated with HMAC-SHA256 under a server
key. Base64 alone would not do: AIP-158 asks for opacity, and a forged
position must not let a caller walk another filter's results. Reusing a token
with a different filter is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import astuple
from datetime import datetime

from vconstore.domain.errors import InvalidRequest
from vconstore.domain.instants import from_micros, to_micros
from vconstore.ports import Cursor, VconFilter

_VERSION = 1
_MAC_BYTES = 16
REASON = "INVALID_PAGE_TOKEN"


def filter_fingerprint(org: str, query: VconFilter) -> str:
    parts = [org] + [to_micros(v) if isinstance(v, datetime) else v for v in astuple(query)]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:32]


class PageTokenCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("page token key must be at least 16 bytes")
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def _seal(self, parts: list[object]) -> str:
        body = json.dumps(parts, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._mac(body) + body).rstrip(b"=").decode()

    def _open(self, token: str, fingerprint: str) -> list[object]:
        """The token's parts after version and fingerprint, once authenticated."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise InvalidRequest("page_token", "malformed page token", reason=REASON) from None
        mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidRequest("page_token", "malformed page token", reason=REASON)
        version, found, *rest = json.loads(body)
        parts: list[object] = rest
        if version != _VERSION:
            raise InvalidRequest("page_token", "page token from another version", reason=REASON)
        if found != fingerprint:
            raise InvalidRequest(
                "page_token",
                "page token was issued for different filters; "
                "repeat the filters of the first request or start without a token",
                reason=REASON,
            )
        return parts

    def encode(self, *, org: str, query: VconFilter, cursor: Cursor) -> str:
        return self._seal(
            [_VERSION, filter_fingerprint(org, query), to_micros(cursor.created_at), cursor.uuid]
        )

    def decode(self, token: str, *, org: str, query: VconFilter) -> Cursor:
        micros, uuid = self._open(token, filter_fingerprint(org, query))
        assert isinstance(micros, int) and isinstance(uuid, str)
        return Cursor(created_at=from_micros(micros), uuid=uuid)

    def encode_position(self, *, org: str, scope: str, position: int) -> str:
        """A token for "after `position`" in a list named by `scope` (e.g. one
        vCon's ledger entries), valid only for that organisation and list."""
        return self._seal([_VERSION, _scope_fingerprint(org, scope), position])

    def decode_position(self, token: str, *, org: str, scope: str) -> int:
        (position,) = self._open(token, _scope_fingerprint(org, scope))
        assert isinstance(position, int)
        return position

    def encode_scoped(self, *, org: str, scope: str, cursor: Cursor) -> str:
        """A token for "after this (created_at, id)" in a list named by `scope`
        (e.g. the organisation's API keys), valid only for that organisation."""
        return self._seal(
            [_VERSION, _scope_fingerprint(org, scope), to_micros(cursor.created_at), cursor.uuid]
        )

    def decode_scoped(self, token: str, *, org: str, scope: str) -> Cursor:
        parts = self._open(token, _scope_fingerprint(org, scope))
        if len(parts) != 2 or not isinstance(parts[0], int) or not isinstance(parts[1], str):
            raise InvalidRequest("page_token", "malformed page token", reason=REASON)
        return Cursor(created_at=from_micros(parts[0]), uuid=parts[1])


def _scope_fingerprint(org: str, scope: str) -> str:
    return hashlib.sha256(json.dumps(["list", org, scope]).encode()).hexdigest()[:32]
