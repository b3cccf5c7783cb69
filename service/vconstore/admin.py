"""`vconstore admin create-key`: a key straight into storage, printed once."""

from __future__ import annotations

from collections.abc import Sequence

from vconstore.application.api_keys import check_name
from vconstore.auth.orgs import check_org
from vconstore.auth.scopes import parse_scopes
from vconstore.bootstrap import create_key
from vconstore.config import Settings
from vconstore.domain.errors import InvalidRequest
from vconstore.runtime import prepare_data_dir

__all__ = ["create_key_command"]


async def create_key_command(
    settings: Settings, *, org: str, scopes: Sequence[str], name: str
) -> None:
    from vconstore.server import open_repository

    try:
        check_org(org)
        granted = parse_scopes(scopes)
        check_name(name)
    except InvalidRequest as error:
        raise SystemExit(f"vconstore: --{error.field}: {error.message}") from None
    except ValueError as error:
        raise SystemExit(f"vconstore: {error}") from None
    if not settings.mongodb_uri:
        prepare_data_dir(settings.data_dir)
    repository = open_repository(settings)
    try:
        await repository.open()
    except ValueError as exc:
        raise SystemExit(f"vconstore: {exc}") from None
    try:
        key = await create_key(repository, org=org, scopes=granted, name=name)
    finally:
        await repository.close()
    print(key, flush=True)
