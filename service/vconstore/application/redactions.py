"""The redaction use cases: redact one vCon into a new, linked one; list a
vCon's derivatives and walk its lineage; select the vCons a bulk redaction
covers. The redaction itself is redaction/document.py; storing the result
is VconStore.create_redaction (validated, stored, registered as `redact`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final

import uuid6

from vconstore.application.vcon_store import (
    CreateOutcome,
    ListRequest,
    VconStore,
    build_filter,
    page_limit,
)
from vconstore.domain.errors import InvalidRequest, VconNotFound
from vconstore.domain.page_token import PageTokenCodec
from vconstore.domain.typed import vcon_to_json_value
from vconstore.domain.uuids import canonical_uuid
from vconstore.ports import Cursor, VconListItem, VconRepository
from vconstore.redaction.policies import RedactionPolicy
from vconstore.redaction.signing import VconSigner
from vconstore.redaction.workers import RedactionWorkers
from vconstore_proto.vcon.v1 import vcon_pb2

__all__ = [
    "DEFAULT_POLICY",
    "DerivativesPage",
    "LineageStep",
    "RedactionOutcome",
    "Redactions",
]

DEFAULT_POLICY: Final = "pii-default"
# Longest lineage walked: redactions of redactions are few; a longer chain
# (or a cycle a client wrote into `redacted`) stops here.
MAX_LINEAGE: Final = 64
MAX_RUNNING: Final = 128
# A bulk selection reads the matching uuids in pages of this many.
_SELECTION_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class RedactionOutcome:
    parent_uuid: str
    policy: str
    created: CreateOutcome
    vcon_json: str
    # "" unless asked for.
    signed_vcon_json: str


@dataclass(frozen=True, slots=True)
class DerivativesPage:
    items: list[VconListItem]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class LineageStep:
    uuid: str
    type: str
    stored: bool


class Redactions:
    def __init__(
        self,
        store: VconStore,
        repository: VconRepository,
        *,
        policies: Mapping[str, RedactionPolicy],
        signer: VconSigner,
        page_tokens: PageTokenCodec,
        workers: RedactionWorkers,
        max_bytes: int = 4 * 1024 * 1024,
        new_uuid: Callable[[], str] = lambda: str(uuid6.uuid7()),
    ) -> None:
        self._workers = workers
        self._max_bytes = max_bytes
        # Redactions running at once across every call and stream: each holds
        # its vCon several times over, and the workers are few anyway.
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self._store = store
        self._repository = repository
        self._policies = dict(policies)
        self._signer = signer
        self._page_tokens = page_tokens
        self._new_uuid = new_uuid

    @property
    def signer(self) -> VconSigner:
        return self._signer

    def policies(self) -> list[RedactionPolicy]:
        return [self._policies[name] for name in sorted(self._policies)]

    def policy(self, name: str) -> RedactionPolicy:
        found = self._policies.get(name or DEFAULT_POLICY)
        if found is None:
            raise InvalidRequest(
                "policy",
                f"unknown policy {name[:80]!r}; known: {', '.join(sorted(self._policies))}",
                reason="UNKNOWN_POLICY",
            )
        return found

    async def redact(
        self, *, org: str, uuid: str, policy: str, signed_form: bool = False
    ) -> RedactionOutcome:
        async with self._slots:
            return await self._redact(org=org, uuid=uuid, policy=policy, signed_form=signed_form)

    async def _redact(
        self, *, org: str, uuid: str, policy: str, signed_form: bool
    ) -> RedactionOutcome:
        chosen = self.policy(policy)
        parent = canonical_uuid(uuid, field="uuid")
        stored = await self._repository.get(org=org, uuid=parent)
        size = len(stored.vcon_json.encode("utf-8"))
        if size > self._max_bytes:
            # Scanning grows with the text (~3 s a MB of dense, number-laden
            # text): a bound keeps one call from holding a worker for minutes.
            raise InvalidRequest(
                "uuid",
                f"the vCon is {size} bytes; redaction takes at most {self._max_bytes}"
                " (VCON_REDACTION_MAX_BYTES)",
                reason="VCON_TOO_LARGE_TO_REDACT",
            )
        # The typed form is the stored document (the payload of a signed one),
        # canonically equal to it: no JWS to open again.
        document = vcon_to_json_value(vcon_pb2.Vcon.FromString(stored.typed_pb))
        text = await self._workers.redact(
            document, chosen, new_uuid=self._new_uuid(), parent_uuid=parent
        )
        created = await self._store.create_redaction(org=org, vcon_json=text)
        return RedactionOutcome(
            parent_uuid=parent,
            policy=chosen.name,
            created=created,
            vcon_json=text,
            signed_vcon_json=self._signer.sign(text, uuid=created.uuid) if signed_form else "",
        )

    async def derivatives(
        self, *, org: str, uuid: str, page_size: int, page_token: str
    ) -> DerivativesPage:
        parent = canonical_uuid(uuid, field="uuid")
        limit = page_limit(page_size)
        scope = f"derivatives:{parent}"
        after = (
            self._page_tokens.decode_scoped(page_token, org=org, scope=scope)
            if page_token
            else None
        )
        page = await self._repository.list_derivatives(
            org=org, uuid=parent, after=after, limit=limit
        )
        token = ""
        if page.has_more and page.items:
            last = page.items[-1]
            token = self._page_tokens.encode_scoped(
                org=org, scope=scope, cursor=Cursor(created_at=last.created_at, uuid=last.uuid)
            )
        return DerivativesPage(items=page.items, next_page_token=token)

    async def lineage(self, *, org: str, uuid: str) -> list[LineageStep]:
        """Nearest parent first. NOT_FOUND when the vCon itself is not held."""
        current = canonical_uuid(uuid, field="uuid")
        link = await self._repository.lineage_of(org=org, uuid=current)
        steps: list[LineageStep] = []
        seen = {current}
        while link is not None and len(steps) < MAX_LINEAGE and link.parent_uuid not in seen:
            seen.add(link.parent_uuid)
            try:
                following = await self._repository.lineage_of(org=org, uuid=link.parent_uuid)
            except VconNotFound:
                steps.append(LineageStep(link.parent_uuid, link.type, stored=False))
                break
            steps.append(LineageStep(link.parent_uuid, link.type, stored=True))
            link = following
        return steps

    async def matching(self, *, org: str, request: ListRequest) -> list[str]:
        """The uuids a bulk redaction covers, read in full before any is
        redacted: the redactions it makes may match the filter too, and must
        not be redacted again in the same run."""
        query = build_filter(replace(request, page_size=0, page_token=""))
        uuids: list[str] = []
        after: Cursor | None = None
        while True:
            page = await self._repository.list(
                org=org, filter=query, after=after, limit=_SELECTION_PAGE
            )
            uuids.extend(item.uuid for item in page.items)
            if not page.has_more or not page.items:
                return uuids
            last = page.items[-1]
            after = Cursor(created_at=last.created_at, uuid=last.uuid)
