"""From the key a call presents to its organisation and scopes.

Every call is authenticated. A key found valid is remembered for
`cache_seconds` (0.5 s), so a busy client costs one storage read per key per
half second rather than one per call, and a revocation made on another
replica takes effect within that time; one made through this process's
`forget` takes effect on the next call. Unknown and revoked keys are never
cached: a flood of made-up keys must not grow memory.

Keys are looked up by their public prefix and the hashes compared in
constant time. Nothing here logs a key, a hash or a prefix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from vconstore.auth.keys import hashes_match, is_well_formed, key_hash, public_prefix
from vconstore.domain.errors import DomainError, Unauthenticated
from vconstore.ports import ApiKeyRepository

__all__ = ["Authenticator", "Principal"]

log = structlog.get_logger("vconstore.auth")

# (reason, message) of each refusal; a new exception is raised each time: a
# shared instance raised again and again would grow its traceback each time.
_MISSING: Final = (
    "API_KEY_MISSING",
    "missing API key: send the metadata 'authorization: Bearer vcs_live_sk_...'",
)
_MALFORMED: Final = (
    "API_KEY_MALFORMED",
    "malformed API key: expected 'Bearer vcs_live_sk_' and 32 to 64 letters or digits",
)
_INVALID: Final = ("API_KEY_INVALID", "unknown or revoked API key")
# Positive entries kept at most; beyond it, expired ones are dropped first.
_CACHE_LIMIT: Final = 10_000
_MAX_READS: Final = 32


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call acts for."""

    org: str
    key_id: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Lookup:
    task: asyncio.Future[Principal | None]
    # monotonic time it started, and the forget() generation it started in
    since: float
    generation: int


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    # monotonic time the lookup that found it started
    since: float


class Authenticator:
    def __init__(
        self,
        keys: ApiKeyRepository,
        *,
        cache_seconds: float = 0.5,
        touch_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._touch_seconds = touch_seconds
        self._monotonic = monotonic
        self._now = now
        self._cache: dict[bytes, _Cached] = {}
        # Bumped by forget(): a lookup that started before it must not cache.
        self._generation = 0
        # Concurrent calls with the same uncached key share one lookup.
        self._lookups: dict[bytes, _Lookup] = {}
        # Storage reads in flight at most: made-up keys are never cached, so a
        # flood of them must not become an unbounded number of reads.
        self._reads = asyncio.Semaphore(_MAX_READS)
        # key id -> monotonic time its last_used_at was last written
        self._touched: dict[str, float] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `authorization` metadata value (`Bearer <key>`);
        Unauthenticated when missing, malformed, unknown or revoked."""
        if authorization is None:
            raise Unauthenticated(*_MISSING)
        scheme, _, presented = authorization.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not is_well_formed(presented):
            raise Unauthenticated(*_MALFORMED)
        digest = key_hash(presented)
        cached = self._cache.get(digest)
        if cached is not None and self._monotonic() - cached.since < self._cache_seconds:
            principal: Principal | None = cached.principal
        else:
            principal = await self._shared_lookup(presented, digest)
        if principal is None:
            raise Unauthenticated(*_INVALID)
        await self._touch(principal.key_id)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a (revoked) key from the cache: its next call is looked up."""
        self._generation += 1
        for digest in [d for d, c in self._cache.items() if c.principal.key_id == key_id]:
            del self._cache[digest]

    async def _shared_lookup(self, presented: str, digest: bytes) -> Principal | None:
        """One storage read for every concurrent call with this key. It runs as
        a task of its own, so a caller that gives up (its deadline) cancels
        only its own wait, never the others'; and a call that starts after a
        forget() never joins a read made before it."""
        pending = self._lookups.get(digest)
        if pending is None or pending.generation != self._generation:
            pending = _Lookup(
                asyncio.ensure_future(self._lookup(presented, digest)),
                since=self._monotonic(),
                generation=self._generation,
            )
            self._lookups[digest] = pending
            pending.task.add_done_callback(lambda _: self._settled(digest, pending))
        return await asyncio.shield(pending.task)

    def _settled(self, digest: bytes, lookup: _Lookup) -> None:
        if self._lookups.get(digest) is lookup:
            del self._lookups[digest]
        if lookup.task.cancelled() or lookup.task.exception() is not None:
            return  # retrieved: every waiter sees it, or none was left to
        principal = lookup.task.result()
        if principal is not None and lookup.generation == self._generation:
            self._remember(digest, _Cached(principal, lookup.since))

    async def _lookup(self, presented: str, digest: bytes) -> Principal | None:
        found = None
        async with self._reads:
            candidates = await self._keys.find_api_keys(prefix=public_prefix(presented))
        for record in candidates:
            # Every candidate is compared, in constant time each.
            if hashes_match(record.key_hash, digest):
                found = record
        if found is None or found.revoked_at is not None:
            return None
        return Principal(org=found.org, key_id=found.id, scopes=frozenset(found.scopes))

    def _remember(self, digest: bytes, entry: _Cached) -> None:
        if len(self._cache) >= _CACHE_LIMIT:
            horizon = self._monotonic() - self._cache_seconds
            self._cache = {d: c for d, c in self._cache.items() if c.since >= horizon}
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
        self._cache[digest] = entry

    async def _touch(self, key_id: str) -> None:
        """Write last_used_at at most every `touch_seconds` per key. Awaited,
        so a listing after a key's first use shows it; a failure to write it
        is logged and does not fail the call."""
        moment = self._monotonic()
        last = self._touched.get(key_id)
        if last is not None and moment - last < self._touch_seconds:
            return
        self._touched[key_id] = moment
        try:
            await self._keys.touch_api_keys(used=[(key_id, self._now())])
        except DomainError as error:
            del self._touched[key_id]
            log.warning("recording an API key's last use failed", error_type=type(error).__name__)
