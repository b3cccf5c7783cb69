"""First keys without a chicken-and-egg: `vconstore admin create-key` (direct
storage access) and the development key `vconstore up` gives org `dev`.
The production entry points (`serve`, `ledger serve`) create no key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import structlog

from vconstore.application.api_keys import SeedConflict, seed_key
from vconstore.auth.keys import generate_key, is_well_formed
from vconstore.auth.orgs import DEV_ORG
from vconstore.auth.scopes import ALL_SCOPES
from vconstore.config import Settings
from vconstore.domain.errors import StorageUnavailable
from vconstore.keyfiles import load_dev_api_key, replace_dev_api_key
from vconstore.ports import ApiKeyRepository
from vconstore.runtime import FIRST_PROBE_SECONDS

__all__ = ["DEV_KEY_NAME", "DevKey", "check_dev_key", "create_key", "seed_dev_key"]

log = structlog.get_logger("vconstore.bootstrap")

DEV_KEY_NAME = "development key"
_RETRY_SECONDS: Final = 2.0


@dataclass
class DevKey:
    key: str
    # Still storing it (storage was down at start): retried until it is
    # stored; `up` cancels it when it stops.
    pending: asyncio.Task[None] | None = None


def check_dev_key(settings: Settings) -> str | None:
    """The development key given (--api-key, VCON_DEV_API_KEY), if any;
    SystemExit if it is not a vcs_live_sk_... key. `up` checks it before
    starting anything; no other command reads it."""
    given = settings.dev_api_key
    if given is not None and not is_well_formed(given):
        # Never echoed: it may be a real key with a typo.
        raise SystemExit(
            "vconstore: the development API key (--api-key or VCON_DEV_API_KEY) must be "
            "vcs_live_sk_ followed by 32 to 64 letters or digits"
        )
    return given


async def seed_dev_key(
    settings: Settings, keys: ApiKeyRepository, *, first_try_seconds: float = FIRST_PROBE_SECONDS
) -> DevKey:
    """The development key: --api-key / VCON_DEV_API_KEY when given, else the
    one kept in the data directory (a new one if that was revoked), made an
    all-scopes key of org `dev`. SystemExit with the reason if it cannot be.

    Storage that does not answer within `first_try_seconds` (MongoDB down)
    does not hold up the start, as it does not for the store itself: the key
    is returned and stored in the background once storage answers."""
    given = check_dev_key(settings)
    key = given or load_dev_api_key(settings.data_dir)
    try:
        await asyncio.wait_for(_seed(keys, key), first_try_seconds)
    except SeedConflict as conflict:
        if given is not None:
            raise SystemExit(
                f"vconstore: the development key given (--api-key or VCON_DEV_API_KEY) "
                f"cannot be used: {conflict}"
            ) from None
        log.warning("kept development key unusable; made a new one", why=str(conflict))
        key = replace_dev_api_key(settings.data_dir)
        return await seed_dev_key(settings, keys, first_try_seconds=first_try_seconds)
    except (StorageUnavailable, TimeoutError):
        log.warning("storage unavailable: the development key is stored once it answers")
        return DevKey(key, asyncio.create_task(_seed_later(keys, key)))
    return DevKey(key)


async def _seed(keys: ApiKeyRepository, key: str) -> None:
    await seed_key(keys, org=DEV_ORG, key=key, scopes=ALL_SCOPES, name=DEV_KEY_NAME)


async def _seed_later(keys: ApiKeyRepository, key: str) -> None:
    while True:
        try:
            await _seed(keys, key)
        except (StorageUnavailable, ValueError):
            # ValueError: an earlier attempt's insert landed meanwhile; the
            # next attempt finds it.
            await asyncio.sleep(_RETRY_SECONDS)
            continue
        except SeedConflict as conflict:
            log.error("the development key cannot be used", why=str(conflict))
            return
        log.info("development key stored")
        return


async def create_key(
    keys: ApiKeyRepository, *, org: str, scopes: tuple[str, ...], name: str
) -> str:
    """A new key of `org` stored directly (no running service needed)."""
    key = generate_key()
    try:
        await seed_key(keys, org=org, key=key, scopes=scopes, name=name)
    except StorageUnavailable as exc:
        raise SystemExit(f"vconstore: cannot store the key: {exc}") from None
    return key
