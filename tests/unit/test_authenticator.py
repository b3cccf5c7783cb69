"""Resolving a presented key: every refusal, the brief cache, revocation
within the cache time (and at once through forget), shared lookups, and the
throttled last-use writes. Real in-memory storage, a controlled clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from vconstore.application.api_keys import seed_key
from vconstore.auth.authenticator import Authenticator
from vconstore.auth.keys import generate_key
from vconstore.domain.errors import StorageUnavailable, Unauthenticated
from vconstore.ports import ApiKeyRecord
from vconstore.storage.memory import InMemoryVconRepository

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class CountingStorage(InMemoryVconRepository):
    """The in-memory backend, counting the lookups and last-use writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.touches: list[str] = []
        self.gate: asyncio.Event | None = None
        # Set once a gated read has read (and waits for the gate to answer).
        self.read = asyncio.Event()

    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        self.lookups += 1
        # Read first, answer when the gate opens: a read that raced a write.
        found = await super().find_api_keys(prefix=prefix)
        if self.gate is not None:
            self.read.set()
            await self.gate.wait()
        return found

    async def touch_api_keys(self, *, used: Sequence[tuple[str, datetime]]) -> None:
        self.touches.extend(key_id for key_id, _ in used)
        await super().touch_api_keys(used=used)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def storage() -> AsyncIterator[CountingStorage]:
    repository = CountingStorage()
    await repository.open()
    yield repository
    await repository.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _authenticator(storage: CountingStorage, clock: Clock) -> Authenticator:
    return Authenticator(storage, monotonic=clock, now=lambda: NOW)


async def _key(storage: CountingStorage, org: str = "acme") -> tuple[str, ApiKeyRecord]:
    key = generate_key()
    record = await seed_key(storage, org=org, key=key, scopes=("vcons:read",), name="k")
    storage.lookups = 0  # seeding looks the key up too
    return key, record


async def test_a_valid_key_resolves_to_its_organisation_and_scopes(
    storage: CountingStorage, clock: Clock
) -> None:
    key, record = await _key(storage)
    principal = await _authenticator(storage, clock).authenticate(f"Bearer {key}")
    assert (principal.org, principal.key_id, principal.scopes) == (
        "acme",
        record.id,
        frozenset({"vcons:read"}),
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "API_KEY_MISSING"),
        ("", "API_KEY_MALFORMED"),
        ("Bearer", "API_KEY_MALFORMED"),
        ("Bearer vcs_live_sk_short", "API_KEY_MALFORMED"),
        ("Basic dXNlcjpwYXNz", "API_KEY_MALFORMED"),
        ("vcs_live_sk_" + "a" * 40, "API_KEY_MALFORMED"),
        ("Bearer vcs_live_sk_" + "a" * 40, "API_KEY_INVALID"),
    ],
)
async def test_unusable_keys_are_refused_with_their_reason(
    storage: CountingStorage, clock: Clock, header: str | None, reason: str
) -> None:
    await _key(storage)
    with pytest.raises(Unauthenticated) as refused:
        await _authenticator(storage, clock).authenticate(header)
    assert refused.value.reason == reason
    assert "a" * 40 not in str(refused.value)


async def test_the_scheme_is_case_insensitive_and_spaces_are_tolerated(
    storage: CountingStorage, clock: Clock
) -> None:
    key, _ = await _key(storage)
    authenticator = _authenticator(storage, clock)
    for header in (f"bearer {key}", f"BEARER  {key} "):
        assert (await authenticator.authenticate(header)).org == "acme"


async def test_a_valid_key_is_looked_up_once_per_cache_period(
    storage: CountingStorage, clock: Clock
) -> None:
    key, _ = await _key(storage)
    authenticator = _authenticator(storage, clock)
    for _ in range(50):
        await authenticator.authenticate(f"Bearer {key}")
    assert storage.lookups == 1
    clock.now += 0.6
    await authenticator.authenticate(f"Bearer {key}")
    assert storage.lookups == 2


async def test_a_revocation_elsewhere_takes_effect_within_the_cache_period(
    storage: CountingStorage, clock: Clock
) -> None:
    """Revoked through storage directly, as another replica would."""
    key, record = await _key(storage)
    authenticator = _authenticator(storage, clock)
    await authenticator.authenticate(f"Bearer {key}")
    await storage.revoke_api_key(org="acme", key_id=record.id, at=NOW)
    clock.now += 0.5
    with pytest.raises(Unauthenticated) as refused:
        await authenticator.authenticate(f"Bearer {key}")
    assert refused.value.reason == "API_KEY_INVALID"


async def test_forget_makes_a_revocation_immediate(storage: CountingStorage, clock: Clock) -> None:
    key, record = await _key(storage)
    authenticator = _authenticator(storage, clock)
    await authenticator.authenticate(f"Bearer {key}")
    await storage.revoke_api_key(org="acme", key_id=record.id, at=NOW)
    authenticator.forget(record.id)
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(f"Bearer {key}")


async def test_a_lookup_racing_a_revocation_is_not_cached(
    storage: CountingStorage, clock: Clock
) -> None:
    """Started before the revocation, answered after: its answer must not be
    remembered, or the revoked key would work for another cache period."""
    key, record = await _key(storage)
    authenticator = _authenticator(storage, clock)
    storage.gate = asyncio.Event()
    racing = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
    await storage.read.wait()
    await storage.revoke_api_key(org="acme", key_id=record.id, at=NOW)
    authenticator.forget(record.id)
    storage.gate.set()
    assert (await racing).key_id == record.id  # read before the revocation
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(f"Bearer {key}")


async def test_concurrent_calls_with_one_key_share_one_lookup(
    storage: CountingStorage, clock: Clock
) -> None:
    key, _ = await _key(storage)
    authenticator = _authenticator(storage, clock)
    storage.gate = asyncio.Event()
    calls = [asyncio.create_task(authenticator.authenticate(f"Bearer {key}")) for _ in range(20)]
    await asyncio.sleep(0)
    storage.gate.set()
    principals = await asyncio.gather(*calls)
    assert {p.org for p in principals} == {"acme"}
    assert storage.lookups == 1


async def test_unknown_keys_are_not_cached(storage: CountingStorage, clock: Clock) -> None:
    authenticator = _authenticator(storage, clock)
    unknown = f"Bearer {generate_key()}"
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await authenticator.authenticate(unknown)
    assert storage.lookups == 3


async def test_a_new_key_works_at_once_even_after_failed_tries(
    storage: CountingStorage, clock: Clock
) -> None:
    authenticator = _authenticator(storage, clock)
    key = generate_key()
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(f"Bearer {key}")
    await seed_key(storage, org="acme", key=key, scopes=("vcons:read",), name="k")
    assert (await authenticator.authenticate(f"Bearer {key}")).org == "acme"


async def test_last_use_is_written_at_most_once_a_minute_per_key(
    storage: CountingStorage, clock: Clock
) -> None:
    key, record = await _key(storage)
    other, other_record = await _key(storage, "globex")
    authenticator = _authenticator(storage, clock)
    for _ in range(10):
        await authenticator.authenticate(f"Bearer {key}")
        await authenticator.authenticate(f"Bearer {other}")
    assert sorted(storage.touches) == sorted([record.id, other_record.id])
    clock.now += 61
    await authenticator.authenticate(f"Bearer {key}")
    assert storage.touches.count(record.id) == 2
    (stored,) = await storage.find_api_keys(prefix=record.prefix)
    assert stored.last_used_at == NOW


async def test_storage_down_is_unavailable_not_unauthenticated(
    storage: CountingStorage, clock: Clock
) -> None:
    key, _ = await _key(storage)
    await storage.close()
    with pytest.raises(StorageUnavailable):
        await _authenticator(storage, clock).authenticate(f"Bearer {key}")


async def test_a_call_after_forget_does_not_join_a_read_made_before_it(
    storage: CountingStorage, clock: Clock
) -> None:
    key, record = await _key(storage)
    authenticator = _authenticator(storage, clock)
    storage.gate = asyncio.Event()
    racing = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
    await storage.read.wait()
    await storage.revoke_api_key(org="acme", key_id=record.id, at=NOW)
    authenticator.forget(record.id)
    later = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
    await asyncio.sleep(0)
    storage.gate.set()
    assert (await racing).key_id == record.id
    with pytest.raises(Unauthenticated):
        await later
    assert storage.lookups == 2


async def test_a_caller_giving_up_does_not_fail_the_others_sharing_its_read(
    storage: CountingStorage, clock: Clock
) -> None:
    key, _ = await _key(storage)
    authenticator = _authenticator(storage, clock)
    storage.gate = asyncio.Event()
    impatient = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
    patient = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
    await storage.read.wait()
    impatient.cancel()  # its deadline passed
    with pytest.raises(asyncio.CancelledError):
        await impatient
    storage.gate.set()
    assert (await patient).org == "acme"
    assert storage.lookups == 1


async def test_each_refusal_is_a_new_error(storage: CountingStorage, clock: Clock) -> None:
    """A refusal object raised again and again would keep every earlier
    traceback: memory growing with each call that has no key."""
    authenticator = _authenticator(storage, clock)
    refusals = []
    for header in (None, None, "Bearer x", "Bearer x"):
        with pytest.raises(Unauthenticated) as refused:
            await authenticator.authenticate(header)
        refusals.append(refused.value)
    assert len({id(error) for error in refusals}) == len(refusals)
