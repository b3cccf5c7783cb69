"""The API key use cases: create (the full key is returned once, never
stored), list, revoke; and seeding a known key for bootstrap (`vconstore
admin create-key`, `vconstore up`'s development key)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from vconstore.application.vcon_store import page_limit
from vconstore.auth.authenticator import Authenticator
from vconstore.auth.keys import generate_key, hashes_match, key_hash, key_id, public_prefix
from vconstore.auth.scopes import UnknownScope, parse_scopes
from vconstore.domain.errors import InvalidRequest
from vconstore.domain.page_token import PageTokenCodec
from vconstore.ports import ApiKeyRecord, ApiKeyRepository, Cursor

__all__ = ["ApiKeyAdmin", "CreatedKey", "KeyListing", "SeedConflict", "seed_key"]

MAX_NAME_CHARS: Final = 100
_LIST_SCOPE: Final = "api_keys"


@dataclass(frozen=True, slots=True)
class CreatedKey:
    record: ApiKeyRecord
    # The full key: returned to the caller once, never stored.
    key: str


@dataclass(frozen=True, slots=True)
class KeyListing:
    keys: list[ApiKeyRecord]
    next_page_token: str


class SeedConflict(ValueError):
    """A key to seed exists but cannot serve: revoked, or another organisation's."""


def check_name(name: str) -> str:
    if not name.strip():
        raise InvalidRequest("name", "must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest("name", f"at most {MAX_NAME_CHARS} characters, got {len(name)}")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidRequest("name", "must not contain control or unassigned characters")
    return name


def checked_scopes(values: Sequence[str]) -> tuple[str, ...]:
    try:
        return parse_scopes(values)
    except UnknownScope as error:
        raise InvalidRequest("scopes", str(error), reason="UNKNOWN_SCOPE") from None
    except ValueError as error:
        raise InvalidRequest("scopes", str(error)) from None


def new_record(
    *, org: str, name: str, key: str, scopes: tuple[str, ...], now: datetime
) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id(),
        org=org,
        name=name,
        prefix=public_prefix(key),
        key_hash=key_hash(key),
        scopes=scopes,
        created_at=now,
    )


class ApiKeyAdmin:
    def __init__(
        self,
        keys: ApiKeyRepository,
        *,
        authenticator: Authenticator,
        page_tokens: PageTokenCodec,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._authenticator = authenticator
        self._page_tokens = page_tokens
        self._now = now

    async def create(self, *, org: str, name: str, scopes: Sequence[str]) -> CreatedKey:
        record_name = check_name(name)
        granted = checked_scopes(scopes)
        key = generate_key()
        record = new_record(org=org, name=record_name, key=key, scopes=granted, now=self._now())
        await self._keys.create_api_key(record=record)
        return CreatedKey(record=record, key=key)

    async def list(self, *, org: str, page_size: int, page_token: str) -> KeyListing:
        limit = page_limit(page_size)
        after = None
        if page_token:
            after = self._page_tokens.decode_scoped(page_token, org=org, scope=_LIST_SCOPE)
        page = await self._keys.list_api_keys(org=org, after=after, limit=limit)
        token = ""
        if page.has_more and page.items:
            last = page.items[-1]
            token = self._page_tokens.encode_scoped(
                org=org, scope=_LIST_SCOPE, cursor=Cursor(created_at=last.created_at, uuid=last.id)
            )
        return KeyListing(keys=page.items, next_page_token=token)

    async def revoke(self, *, org: str, key_id: str) -> ApiKeyRecord:
        if not key_id:
            raise InvalidRequest("id", "must not be empty")
        record = await self._keys.revoke_api_key(org=org, key_id=key_id, at=self._now())
        self._authenticator.forget(record.id)
        return record


async def seed_key(
    keys: ApiKeyRepository,
    *,
    org: str,
    key: str,
    scopes: tuple[str, ...],
    name: str,
    now: datetime | None = None,
) -> ApiKeyRecord:
    """Make `key` a key of `org` (idempotent: an existing live key of that
    organisation is returned as it is). SeedConflict when it is revoked or
    belongs to another organisation."""
    digest = key_hash(key)
    for record in await keys.find_api_keys(prefix=public_prefix(key)):
        if not hashes_match(record.key_hash, digest):
            continue
        if record.org != org:
            raise SeedConflict(f"this key belongs to another organisation than {org}")
        if record.revoked_at is not None:
            raise SeedConflict("this key was revoked")
        return record
    record = new_record(org=org, name=name, key=key, scopes=scopes, now=now or datetime.now(UTC))
    await keys.create_api_key(record=record)
    return record
