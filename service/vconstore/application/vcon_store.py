"""The vCon use cases: create, get, list, delete.

The gRPC servicer translates wire messages to these calls and back; the
repository port hides the backend. Everything a create needs from the
document (validation, typed form, canonical hash, search keys) is computed
here once, so reads never parse JSON again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from vconstore.domain.canonical import content_hash
from vconstore.domain.errors import InvalidRequest, VconAlreadyExists, Violation
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.search_keys import (
    extract_search_keys,
    fold,
    normalise_mailto,
    normalise_tel,
)
from vconstore.domain.typed import parties_only, vcon_from_json_value
from vconstore.domain.uuids import canonical_uuid
from vconstore.domain.validation import (
    ValidatedVcon,
    ValidationPolicy,
    parse_timestamp,
    validate_vcon_document,
    validate_vcon_text,
)
from vconstore.ports import (
    Cursor,
    StoredVcon,
    VconFilter,
    VconListItem,
    VconRecord,
    VconRepository,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    uuid: str
    created_at: datetime
    detected_version: str
    warnings: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class ListRequest:
    page_size: int = 0
    page_token: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    party_tel: str = ""
    party_mailto: str = ""
    party_name: str = ""
    subject_contains: str = ""
    tag: str = ""


@dataclass(frozen=True, slots=True)
class ListOutcome:
    items: list[VconListItem]
    next_page_token: str
    total: int
    # A token that resumes right after `item`, for a caller that returns only
    # a prefix of `items` (the gRPC layer does, to bound a response's size).
    token_after: Callable[[VconListItem], str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# No tel, address, name, subject fragment or tag is longer; a bound keeps
# every backend's query small (MongoDB refuses regexes over 32 KB).
MAX_FILTER_CHARS = 1024


def build_filter(request: ListRequest) -> VconFilter:
    """Normalise filter values exactly as the stored keys were normalised."""
    for field in ("party_tel", "party_mailto", "party_name", "subject_contains", "tag"):
        value: str = getattr(request, field)
        if len(value) > MAX_FILTER_CHARS:
            raise InvalidRequest(
                field, f"{len(value)} characters; a filter holds at most {MAX_FILTER_CHARS}"
            )
    tag = request.tag.strip()
    return VconFilter(
        created_after=request.created_after,
        created_before=request.created_before,
        party_tel=normalise_tel(request.party_tel) or None,
        party_mailto=normalise_mailto(request.party_mailto) or None,
        party_name=fold(request.party_name) or None,
        subject_contains=fold(request.subject_contains) or None,
        tag=tag if ":" in tag else None,
        tag_key=tag if tag and ":" not in tag else None,
    )


def page_limit(page_size: int) -> int:
    if page_size < 0:
        raise InvalidRequest("page_size", f"must not be negative, got {page_size}")
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    return min(page_size, MAX_PAGE_SIZE)


class VconStore:
    def __init__(
        self,
        repository: VconRepository,
        *,
        policy: ValidationPolicy,
        page_tokens: PageTokenCodec,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._repository = repository
        self._policy = policy
        self._strict_policy = replace(policy, strict=True)
        self._page_tokens = page_tokens
        self._clock = clock

    async def create(
        self,
        *,
        org: str,
        vcon_json: str | None = None,
        vcon_document: Mapping[str, object] | None = None,
        strict: bool = False,
        assign_uuid: bool = False,
    ) -> CreateOutcome:
        policy = self._strict_policy if strict else self._policy
        if vcon_json is not None:
            validated = validate_vcon_text(vcon_json, policy, assign_uuid=assign_uuid)
        else:
            validated = validate_vcon_document(
                dict(vcon_document or {}), policy, assign_uuid=assign_uuid
            )
        record = self._record(org, validated, from_text=vcon_json is not None)
        existing = await self._repository.insert(record=record)
        if existing is None:
            created_at = record.created_at
        elif existing.content_hash == record.content_hash:
            # A retry of the same create: answer as the first one did.
            created_at = existing.created_at
        else:
            raise VconAlreadyExists(validated.uuid)
        return CreateOutcome(
            uuid=validated.uuid,
            created_at=created_at,
            detected_version=validated.detected_version,
            warnings=validated.warnings,
        )

    def _record(self, org: str, validated: ValidatedVcon, *, from_text: bool) -> VconRecord:
        document = validated.document
        typed = vcon_from_json_value(document)
        received_at = self._clock()
        created = document.get("created_at")
        created_at = parse_timestamp(created) if isinstance(created, str) else received_at
        keys = extract_search_keys(document)
        # The hash covers what is stored: the JWS itself for a signed vCon. Text
        # went through the I-JSON parser; a typed message's values did not.
        hashed = json.loads(validated.text) if validated.signed else document
        return VconRecord(
            org=org,
            uuid=canonical_uuid(validated.uuid),
            vcon_json=validated.text,
            typed_pb=typed.SerializeToString(),
            parties_pb=parties_only(typed).SerializeToString(),
            content_hash=content_hash(hashed, from_ijson=from_text),
            created_at=created_at,
            received_at=received_at,
            detected_version=validated.detected_version,
            signed=validated.signed,
            subject=keys.subject,
            party_tels=keys.party_tels,
            party_mailtos=keys.party_mailtos,
            party_names=keys.party_names,
            tags=keys.tags,
        )

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        return await self._repository.get(org=org, uuid=canonical_uuid(uuid, field="uuid"))

    async def delete(self, *, org: str, uuid: str) -> None:
        await self._repository.delete(org=org, uuid=canonical_uuid(uuid, field="uuid"))

    async def list(self, *, org: str, request: ListRequest) -> ListOutcome:
        limit = page_limit(request.page_size)
        query = build_filter(request)
        cursor = (
            self._page_tokens.decode(request.page_token, org=org, query=query)
            if request.page_token
            else None
        )
        page = await self._repository.list(org=org, filter=query, after=cursor, limit=limit)

        def token_after(item: VconListItem) -> str:
            position = Cursor(created_at=item.created_at, uuid=item.uuid)
            return self._page_tokens.encode(org=org, query=query, cursor=position)

        next_token = token_after(page.items[-1]) if page.has_more and page.items else ""
        return ListOutcome(
            items=page.items, next_page_token=next_token, total=page.total, token_after=token_after
        )
