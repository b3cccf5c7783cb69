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
from vconstore.domain.lineage import document_lineage
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.search_keys import (
    extract_search_keys,
    fold,
    normalise_mailto,
    normalise_tel,
)
from vconstore.domain.typed import parties_only, vcon_from_json_value
from vconstore.domain.uuids import canonical_uuid, is_uuid
from vconstore.domain.validation import (
    ValidatedVcon,
    ValidationPolicy,
    parse_timestamp,
    validate_vcon_document,
    validate_vcon_text,
)
from vconstore.ports import (
    Cursor,
    PendingRegistration,
    ScittEntry,
    StoredVcon,
    VconFilter,
    VconListItem,
    VconRecord,
    VconRepository,
)
from vconstore.scitt.issuer import StatementIssuer
from vconstore.scitt.registrar import Registrar

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    uuid: str
    created_at: datetime
    detected_version: str
    warnings: tuple[Violation, ...]
    # None when the store runs without a ledger.
    scitt: ScittEntry | None = None


@dataclass(frozen=True, slots=True)
class ScittListOutcome:
    entries: list[ScittEntry]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class Ledgering:
    """How operations reach the ledger: who signs them, who registers them,
    and how long an RPC waits for the receipt before answering PENDING."""

    issuer: StatementIssuer
    registrar: Registrar
    wait_seconds: float = 2.0


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


# Members through which a vCon names the one it amends: `amended` (core-01 on),
# `appended` (earlier drafts) and `amended_from` (the working group's newest schema).
AMENDMENT_MEMBERS = ("amended", "amended_from", "appended")
# The draft has one amended vCon; a list is read leniently, but its length must
# not turn one create into thousands of lookups.
MAX_AMENDED_LOOKUPS = 8


def amended_uuids(document: Mapping[str, object]) -> list[str]:
    """The distinct uuids a vCon says it amends (an object with `uuid`, or a
    list of them), at most MAX_AMENDED_LOOKUPS."""
    found: dict[str, None] = {}
    for member in AMENDMENT_MEMBERS:
        value = document.get(member)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping):
                uuid = item.get("uuid")
                # Anything but a uuid names nothing this store holds.
                if isinstance(uuid, str) and is_uuid(uuid):
                    found[canonical_uuid(uuid)] = None
                    if len(found) == MAX_AMENDED_LOOKUPS:
                        return list(found)
    return list(found)


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
        ledgering: Ledgering | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._repository = repository
        self._ledgering = ledgering
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
        return await self._store(org, validated, from_text=vcon_json is not None)

    async def create_redaction(self, *, org: str, vcon_json: str) -> CreateOutcome:
        """Store a redaction this service made (its `redacted` names the
        parent): validated like any create, registered as operation `redact`
        naming the parent."""
        validated = validate_vcon_text(vcon_json, self._policy)
        lineage = document_lineage(validated.document)
        if lineage is None:
            raise ValueError("a redaction names its parent in `redacted`")
        return await self._store(org, validated, from_text=True, redaction_of=lineage.parent_uuid)

    async def _store(
        self,
        org: str,
        validated: ValidatedVcon,
        *,
        from_text: bool,
        redaction_of: str | None = None,
    ) -> CreateOutcome:
        record = self._record(org, validated, from_text=from_text)
        entry = None
        if self._ledgering is not None:
            operation = (
                "redact"
                if redaction_of is not None
                else await self._create_operation(org, validated.document)
            )
            entry = self._ledgering.issuer.entry(
                operation,
                org=org,
                uuid=record.uuid,
                content_hash=record.content_hash,
                parent_uuid=redaction_of,
            )
        existing = await self._repository.insert(record=record, scitt=entry)
        if existing is None:
            created_at = record.created_at
        elif existing.content_hash == record.content_hash:
            # A retry of the same create: answer as the first one did.
            created_at = existing.created_at
            entry = existing.scitt
        else:
            raise VconAlreadyExists(validated.uuid)
        return CreateOutcome(
            uuid=validated.uuid,
            created_at=created_at,
            detected_version=validated.detected_version,
            warnings=validated.warnings,
            scitt=await self._registered(
                org,
                record.uuid,
                entry,
                also=() if redaction_of is None else (redaction_of,),
            ),
        )

    async def _create_operation(self, org: str, document: Mapping[str, object]) -> str:
        """`amend` when the vCon amends one this organisation holds, else `register`."""
        for uuid in amended_uuids(document):
            if await self._repository.exists(org=org, uuid=uuid):
                return "amend"
        return "register"

    async def _registered(
        self, org: str, uuid: str, entry: ScittEntry | None, *, also: tuple[str, ...] = ()
    ) -> ScittEntry | None:
        """The entry with its receipt if the ledger gives it within the wait;
        `also`: other vCons holding the same entry (a redaction's parent)."""
        ledgering = self._ledgering
        if entry is None or entry.receipt is not None or ledgering is None:
            return entry
        receipt = await ledgering.registrar.receipt_for(
            PendingRegistration(org=org, uuid=uuid, entry=entry, also=also),
            timeout=ledgering.wait_seconds,
        )
        return entry if receipt is None else replace(entry, receipt=receipt)

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
            lineage=document_lineage(document),
        )

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        stored = await self._repository.get(org=org, uuid=canonical_uuid(uuid, field="uuid"))
        if stored.scitt is not None:
            return replace(stored, scitt=self._with_fresh_receipt(stored.scitt))
        return stored

    def _with_fresh_receipt(self, entry: ScittEntry) -> ScittEntry:
        """The entry with a receipt received but not yet written, if there is
        one: a read right after a REGISTERED answer must not say PENDING."""
        if entry.receipt is not None or self._ledgering is None:
            return entry
        receipt = self._ledgering.registrar.stored_receipt(entry.entry_id)
        return entry if receipt is None else replace(entry, receipt=receipt)

    async def delete(self, *, org: str, uuid: str) -> ScittEntry | None:
        key = canonical_uuid(uuid, field="uuid")
        ledgering = self._ledgering
        if ledgering is None:
            await self._repository.delete(org=org, uuid=key)
            return None
        issuer = ledgering.issuer

        def deletion(content_hash: str) -> ScittEntry:
            return issuer.entry("delete", org=org, uuid=key, content_hash=content_hash)

        entry = await self._repository.delete(org=org, uuid=key, scitt=deletion)
        return await self._registered(org, key, entry)

    async def list_scitt(
        self, *, org: str, uuid: str, page_size: int, page_token: str
    ) -> ScittListOutcome:
        key = canonical_uuid(uuid, field="uuid")
        limit = page_limit(page_size)
        scope = f"scitt/{key}"
        after = (
            self._page_tokens.decode_position(page_token, org=org, scope=scope)
            if page_token
            else None
        )
        page = await self._repository.list_scitt(org=org, uuid=key, after=after, limit=limit)
        next_token = ""
        if page.has_more:
            last = (-1 if after is None else after) + len(page.entries)
            next_token = self._page_tokens.encode_position(org=org, scope=scope, position=last)
        return ScittListOutcome(
            entries=[self._with_fresh_receipt(entry) for entry in page.entries],
            next_page_token=next_token,
        )

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
