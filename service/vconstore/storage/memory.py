"""A storage fake for fast unit tests: the port's semantics over a dict.

It passes the same contract suite as the real adapters. Nothing is durable.
Every method runs to completion without awaiting, so on one event loop each
call is atomic, as a transaction would make it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from vconstore.domain.errors import ApiKeyNotFound, StorageUnavailable, VconNotFound
from vconstore.ports import (
    ApiKeyPage,
    ApiKeyRecord,
    Cursor,
    DeletionEntry,
    ExistingVcon,
    Lineage,
    ListPage,
    PendingRegistration,
    Receipt,
    ScittEntry,
    ScittPage,
    StoredVcon,
    VconFilter,
    VconListItem,
    VconRecord,
    create_entry_of,
)
from vconstore.storage.normalise import fold, tag_key, utc

__all__ = ["InMemoryVconRepository"]


@dataclass(frozen=True, slots=True)
class _Stored:
    record: VconRecord
    # Precomputed as an index would hold them.
    names_folded: tuple[str, ...]
    subject_folded: str | None
    tag_keys: frozenset[str]


class InMemoryVconRepository:
    def __init__(self) -> None:
        self._vcons: dict[tuple[str, str], _Stored] = {}
        # Each (org, uuid)'s ledger entries, oldest first; they outlive the vCon.
        self._scitt: dict[tuple[str, str], list[ScittEntry]] = {}
        self._api_keys: dict[str, ApiKeyRecord] = {}
        self._open = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def ping(self) -> None:
        self._check_open()

    async def insert(
        self, *, record: VconRecord, scitt: ScittEntry | None = None
    ) -> ExistingVcon | None:
        # Normalised as the SQLite adapter stores them: instants in UTC, bytes as bytes.
        record = replace(
            record,
            created_at=utc(record.created_at),
            received_at=utc(record.received_at),
            typed_pb=bytes(record.typed_pb),
            parties_pb=bytes(record.parties_pb),
        )
        self._check_open()
        key = (record.org, record.uuid)
        if (found := self._vcons.get(key)) is not None:
            return ExistingVcon(
                uuid=record.uuid,
                content_hash=found.record.content_hash,
                created_at=found.record.created_at,
                detected_version=found.record.detected_version,
                scitt=self._latest(key),
            )
        if scitt is not None:
            self._scitt.setdefault(key, []).append(_utc_entry(scitt))
            if scitt.operation == "redact" and record.lineage is not None:
                parent = (record.org, record.lineage.parent_uuid)
                self._scitt.setdefault(parent, []).append(_utc_entry(scitt))
        self._vcons[key] = _Stored(
            record=record,
            names_folded=tuple(fold(name) for name in record.party_names),
            subject_folded=None if record.subject is None else fold(record.subject),
            tag_keys=frozenset(tag_key(tag) for tag in record.tags),
        )
        return None

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        self._check_open()
        found = self._vcons.get((org, uuid))
        if found is None:
            raise VconNotFound(uuid)
        record = found.record
        return StoredVcon(
            uuid=record.uuid,
            vcon_json=record.vcon_json,
            typed_pb=record.typed_pb,
            signed=record.signed,
            created_at=record.created_at,
            detected_version=record.detected_version,
            scitt=self._latest((org, uuid)),
        )

    async def exists(self, *, org: str, uuid: str) -> bool:
        self._check_open()
        return (org, uuid) in self._vcons

    async def delete(
        self, *, org: str, uuid: str, scitt: DeletionEntry | None = None
    ) -> ScittEntry | None:
        self._check_open()
        found = self._vcons.get((org, uuid))
        if found is None:
            raise VconNotFound(uuid)
        entry = None if scitt is None else _utc_entry(scitt(found.record.content_hash))
        del self._vcons[(org, uuid)]
        if entry is not None:
            self._scitt.setdefault((org, uuid), []).append(entry)
        return entry

    async def list_scitt(self, *, org: str, uuid: str, after: int | None, limit: int) -> ScittPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._check_open()
        entries = self._scitt.get((org, uuid))
        if not entries:
            raise VconNotFound(uuid)
        start = 0 if after is None else after + 1
        return ScittPage(
            entries=entries[start : start + limit], has_more=len(entries) > start + limit
        )

    async def pending_registrations(self, *, limit: int) -> list[PendingRegistration]:
        self._check_open()
        pending = [
            PendingRegistration(org=org, uuid=uuid, entry=entry)
            for (org, uuid), entries in self._scitt.items()
            for entry in entries
            if entry.receipt is None
        ]
        pending.sort(key=lambda item: item.entry.created_at)
        return pending[:limit]

    async def count_pending(self) -> int:
        return len(await self.pending_registrations(limit=2**62))

    async def store_receipts(self, *, receipts: Sequence[Receipt]) -> None:
        self._check_open()
        for item in receipts:
            entries = self._scitt.get((item.org, item.uuid), [])
            for position, entry in enumerate(entries):
                if entry.entry_id == item.entry_id and entry.receipt is None:
                    entries[position] = replace(entry, receipt=item.receipt)

    def _latest(self, key: tuple[str, str]) -> ScittEntry | None:
        """As SQLite's latest_entry: the newest entry unless it is a deletion."""
        return create_entry_of(self._scitt.get(key, []))

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        # Refuse naive instants even when there is nothing to compare them with.
        for instant in (filter.created_after, filter.created_before):
            if instant is not None:
                utc(instant)
        self._check_open()
        matches = sorted(
            (stored for (owner, _), stored in self._vcons.items() if owner == org),
            key=lambda stored: (stored.record.created_at, stored.record.uuid),
            reverse=True,
        )
        matches = [stored for stored in matches if _matches(stored, filter)]
        page = matches
        if after is not None:
            position = (utc(after.created_at), after.uuid)
            page = [s for s in matches if (s.record.created_at, s.record.uuid) < position]
        return ListPage(
            items=[_list_item(stored.record) for stored in page[:limit]],
            has_more=len(page) > limit,
            total=len(matches),
        )

    async def create_api_key(self, *, record: ApiKeyRecord) -> None:
        self._check_open()
        if record.id in self._api_keys or any(
            key.key_hash == record.key_hash for key in self._api_keys.values()
        ):
            raise ValueError("an API key with this id or this key exists")
        self._api_keys[record.id] = record

    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        self._check_open()
        return [key for key in self._api_keys.values() if key.prefix == prefix]

    async def list_api_keys(self, *, org: str, after: Cursor | None, limit: int) -> ApiKeyPage:
        self._check_open()
        if limit < 1:
            raise ValueError("limit must be at least 1")
        ordered = sorted(
            (key for key in self._api_keys.values() if key.org == org),
            key=lambda key: (utc(key.created_at), key.id),
        )
        if after is not None:
            position = (utc(after.created_at), after.uuid)
            ordered = [key for key in ordered if (utc(key.created_at), key.id) > position]
        return ApiKeyPage(items=ordered[:limit], has_more=len(ordered) > limit)

    async def revoke_api_key(self, *, org: str, key_id: str, at: datetime) -> ApiKeyRecord:
        self._check_open()
        found = self._api_keys.get(key_id)
        if found is None or found.org != org:
            raise ApiKeyNotFound(key_id)
        if found.revoked_at is None:
            found = self._api_keys[key_id] = replace(found, revoked_at=utc(at))
        return found

    async def touch_api_keys(self, *, used: Sequence[tuple[str, datetime]]) -> None:
        self._check_open()
        for key_id, at in used:
            found = self._api_keys.get(key_id)
            if found is not None and (found.last_used_at is None or found.last_used_at < at):
                self._api_keys[key_id] = replace(found, last_used_at=utc(at))

    async def list_derivatives(
        self, *, org: str, uuid: str, after: Cursor | None, limit: int
    ) -> ListPage:
        self._check_open()
        if limit < 1:
            raise ValueError("limit must be at least 1")
        children = sorted(
            (
                stored.record
                for (owner, _), stored in self._vcons.items()
                if owner == org
                and stored.record.lineage is not None
                and stored.record.lineage.parent_uuid == uuid
            ),
            key=lambda record: (record.created_at, record.uuid),
            reverse=True,
        )
        if after is not None:
            position = (utc(after.created_at), after.uuid)
            children = [r for r in children if (r.created_at, r.uuid) < position]
        return ListPage(
            items=[_list_item(r) for r in children[:limit]], has_more=len(children) > limit
        )

    async def lineage_of(self, *, org: str, uuid: str) -> Lineage | None:
        self._check_open()
        found = self._vcons.get((org, uuid))
        if found is None:
            raise VconNotFound(uuid)
        return found.record.lineage

    def _check_open(self) -> None:
        if not self._open:
            raise StorageUnavailable("in-memory storage is not open")


def _matches(stored: _Stored, where: VconFilter) -> bool:
    record = stored.record
    if where.created_after is not None and record.created_at < utc(where.created_after):
        return False
    if where.created_before is not None and record.created_at >= utc(where.created_before):
        return False
    if where.party_tel is not None and where.party_tel not in record.party_tels:
        return False
    if where.party_mailto is not None and where.party_mailto not in record.party_mailtos:
        return False
    if where.party_name is not None:
        needle = fold(where.party_name)
        # As the real backends (which keep names joined by U+001F): a needle
        # holding that separator matches no name.
        if "\x1f" in needle:
            return False
        if not any(needle in name for name in stored.names_folded):
            return False
    if where.subject_contains is not None and (
        stored.subject_folded is None or fold(where.subject_contains) not in stored.subject_folded
    ):
        return False
    if where.tag is not None and where.tag not in record.tags:
        return False
    return where.tag_key is None or where.tag_key in stored.tag_keys


def _utc_entry(entry: ScittEntry) -> ScittEntry:
    return replace(entry, created_at=utc(entry.created_at), statement=bytes(entry.statement))


def _list_item(record: VconRecord) -> VconListItem:
    return VconListItem(
        uuid=record.uuid,
        created_at=record.created_at,
        subject=record.subject,
        detected_version=record.detected_version,
        parties_pb=record.parties_pb,
        signed=record.signed,
    )
