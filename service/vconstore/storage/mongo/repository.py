"""The production storage: one MongoDB document per vCon, behind the storage port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pymongo import AsyncMongoClient, ReadPreference, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DocumentTooLarge, DuplicateKeyError, WriteError
from pymongo.read_concern import ReadConcern

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
    VconRecord,
)

from . import api_keys as keys
from . import scitt as outbox
from .documents import (
    DELETE_PROJECTION,
    EXISTING_PROJECTION,
    LIST_PROJECTION,
    MAX_DOCUMENT_BYTES,
    STORED_PROJECTION,
    F,
    check_size,
    entry_document,
    entry_from,
    existing_from,
    has_entries,
    list_item_from,
    needs_history,
    stored_from,
    to_document,
)
from .indexes import INDEXES
from .lifecycle import ClientFactory, Document, MongoConnection, Work, connect
from .options import MongoOptions
from .queries import NEWEST_FIRST, by_key, derivatives_query, list_query, live

__all__ = ["ClientFactory", "MongoVconRepository", "connect"]

_log = logging.getLogger(__name__)

# Room kept in a document for what the ledger adds after the create: its
# receipt (~1 KB, growing with log2 of the log's size) and a deletion's entry.
LEDGER_HEADROOM_BYTES: Final = 16 * 1024
# A duplicate-key error whose winner is gone by the time it is read means it
# was erased in between; trying again settles it, unless erasures keep racing.
_INSERT_ATTEMPTS: Final = 3
# A deletion's conditional write misses when the vCon changed since it was
# read (erased, or deleted and created again); it reads it again, this often.
_DELETE_ATTEMPTS: Final = 3
# Touches the collection (and so the credentials' privileges on it), not just
# the server: matches no document and is answered from the org_uuid index.
_PROBE: Final = by_key("", "")


@dataclass(frozen=True, slots=True)
class _Collections:
    vcons: AsyncCollection[Document]
    # The winner of a duplicate create is read at majority: a retry is
    # answered OK only once the first write is as durable as its own.
    majority: AsyncCollection[Document]
    api_keys: AsyncCollection[Document]


class MongoVconRepository:
    """`VconRepository` on a MongoDB collection, through pymongo's async API,
    and `ApiKeyRepository` on a second one beside it (see api_keys.py).

    Every write is one single-document operation (no transactions, so a
    standalone mongod serves), acknowledged under the configured write concern
    (majority, journaled by default). A concurrent create of the same uuid is
    detected by the unique (org, uuid) index and answered with the winner.
    A ledger entry lives in its vCon's document and is written by the same
    operation (the outbox; see scitt.py).

    open() does not wait for MongoDB: it validates the URI, creates the client
    and starts building the indexes in the background, so the service starts
    (and reports NOT_SERVING) while MongoDB is down. Every operation first
    waits for that build, restarting it if it failed, so nothing is written
    before the unique index exists; while MongoDB is unreachable each call
    fails with StorageUnavailable after the server selection timeout, and the
    driver reconnects on its own when MongoDB returns.

    delete() erases the content at once: a vCon with ledger entries (or
    deleted with one) becomes a content-free tombstone in the same document,
    holding only its key and its entries, the deletion's appended, so its
    history can still be listed; one without entries, deleted without one, is
    removed. Tombstones are invisible to get, exists and list, and a create of
    the same uuid brings the document back to life. MongoDB keeps no copy of
    the erased content in the collection, but a replica set's oplog and any
    backups hold one until they roll over.

    Args:
        options: URI, database, collection, timeouts, pool and write concern.
        client_factory: builds the client from the options (tests pass one
            for an in-process stand-in); the real AsyncMongoClient by default.
        max_document_bytes: documents larger than this are refused with
            LimitExceeded before reaching the driver; MongoDB's own limit.
    """

    def __init__(
        self,
        options: MongoOptions,
        *,
        client_factory: ClientFactory = connect,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self._options = options
        self._max_document_bytes = max_document_bytes
        self._connection = MongoConnection(
            options, client_factory, attach=self._attach, log=_log, name="vconstore-mongo-indexes"
        )

    @property
    def options(self) -> MongoOptions:
        return self._options

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()

    async def ping(self) -> None:
        await self._connection.ping(_probe)

    async def insert(
        self, *, record: VconRecord, scitt: ScittEntry | None = None
    ) -> ExistingVcon | None:
        existing = await self._insert(record, scitt)
        lineage = record.lineage
        if existing is None and lineage is not None and scitt and scitt.operation == "redact":
            # Not atomic with the insert (one document a write): a crash in
            # between leaves the parent's history without this entry, the
            # child's still holding it.
            with self._connection.translated():
                collections = await self._connection.ready()
                try:
                    await collections.vcons.update_one(
                        by_key(record.org, lineage.parent_uuid),
                        outbox.appended(entry_document(scitt)),
                    )
                except (WriteError, DocumentTooLarge) as exc:
                    # A parent redacted so often that its history reached
                    # MongoDB's 16 MB: the redaction stands (the child holds
                    # its entry); only the parent's copy is missing.
                    _log.warning(
                        "redaction entry not added to the parent's history: %s",
                        type(exc).__name__,
                    )
        return existing

    async def _insert(self, record: VconRecord, scitt: ScittEntry | None) -> ExistingVcon | None:
        document = to_document(record)
        entry = None if scitt is None else entry_document(scitt)
        created = document if entry is None else {**document, **outbox.new_ledger(entry)}
        check_size(created, limit=self._limit_for(entry))
        with self._connection.translated():
            collections = await self._connection.ready()
            for _ in range(_INSERT_ATTEMPTS):
                try:
                    await collections.vcons.insert_one(created)
                    return None
                except DuplicateKeyError:
                    found = await collections.majority.find_one(
                        by_key(record.org, record.uuid), EXISTING_PROJECTION
                    )
                if found is None:
                    continue  # erased in between: insert again
                if not found.get(F.TOMBSTONE):
                    return existing_from(record.uuid, found)
                # A tombstone: this create brings it back to life, its history going on.
                history = [*found.get(F.SCITT, []), *([] if entry is None else [entry])]
                check_size({**document, F.SCITT: history}, limit=self._limit_for(entry))
                result = await collections.vcons.update_one(
                    outbox.tombstoned(record.org, record.uuid), outbox.revive(document, entry)
                )
                if result.matched_count:
                    return None
                # Another create revived it first: the next attempt reports it.
        raise StorageUnavailable("MongoDB storage: a create kept racing with other writes")

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.vcons.find_one(live(org, uuid), STORED_PROJECTION)
            if found is not None and needs_history(found):
                history = await collections.vcons.find_one(live(org, uuid), {F.SCITT: 1})
                if history is not None:
                    found[F.SCITT] = history.get(F.SCITT, [])
        if found is None:
            raise VconNotFound(uuid)
        return stored_from(uuid, found)

    async def exists(self, *, org: str, uuid: str) -> bool:
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.vcons.find_one(live(org, uuid), {"_id": 1})
        return found is not None

    async def delete(
        self, *, org: str, uuid: str, scitt: DeletionEntry | None = None
    ) -> ScittEntry | None:
        # Signed at most once per content hash, however often the write is retried.
        signed: dict[str, ScittEntry] = {}
        with self._connection.translated():
            vcons = (await self._connection.ready()).vcons
            for _ in range(_DELETE_ATTEMPTS):
                if scitt is None:
                    # Nothing to record and no history to keep: remove it outright.
                    removed = await vcons.delete_one(outbox.removable(org, uuid))
                    if removed.deleted_count:
                        return None
                found = await vcons.find_one(live(org, uuid), DELETE_PROJECTION)
                if found is None:
                    raise VconNotFound(uuid)
                if scitt is None and not has_entries(found):
                    continue  # created after the delete_one above: remove it now
                content_hash: str = found[F.CONTENT_HASH]
                entry: ScittEntry | None = None
                if scitt is not None:
                    entry = signed.get(content_hash) or scitt(content_hash)
                    signed[content_hash] = entry
                # Only this very content: the statement covers its hash.
                result = await vcons.update_one(
                    outbox.erasable(found["_id"], content_hash),
                    outbox.tombstone(None if entry is None else entry_document(entry)),
                )
                if result.matched_count:
                    return entry
        raise StorageUnavailable("MongoDB storage: a deletion kept racing with other writes")

    async def list_scitt(self, *, org: str, uuid: str, after: int | None, limit: int) -> ScittPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.vcons.find_one(
                outbox.with_entries(org, uuid), outbox.entries_page(after, limit + 1)
            )
        if found is None:
            raise VconNotFound(uuid)
        entries = [entry_from(item) for item in found.get(F.SCITT, [])]
        return ScittPage(entries=entries[:limit], has_more=len(entries) > limit)

    async def pending_registrations(self, *, limit: int) -> list[PendingRegistration]:
        if limit < 1:
            return []
        with self._connection.translated():
            collections = await self._connection.ready()
            cursor = await collections.vcons.aggregate(
                outbox.pending_pipeline(limit), hint=outbox.PENDING_HINT
            )
            found = await cursor.to_list()
        return [
            PendingRegistration(org=item[F.ORG], uuid=item[F.UUID], entry=entry_from(item[F.SCITT]))
            for item in found
        ]

    async def count_pending(self) -> int:
        with self._connection.translated():
            collections = await self._connection.ready()
            cursor = await collections.vcons.aggregate(
                outbox.COUNT_PENDING, hint=outbox.PENDING_HINT
            )
            found = await cursor.to_list()
        return int(found[0]["n"]) if found else 0

    async def store_receipts(self, *, receipts: Sequence[Receipt]) -> None:
        if not receipts:
            return
        with self._connection.translated():
            collections = await self._connection.ready()
            await collections.vcons.bulk_write(outbox.receipt_updates(receipts), ordered=False)

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        query = list_query(org, filter, after, limit)
        with self._connection.translated():
            collection = (await self._connection.ready()).vcons
            page = collection.find(
                query.page, LIST_PROJECTION, sort=query.sort, limit=query.fetch, hint=query.hint
            ).to_list()
            if after is not None:
                # Both are needed: run them side by side on two pooled connections.
                documents, total = await _both(
                    page, collection.count_documents(query.matching, hint=query.hint)
                )
            else:
                documents = await page
                # The first page holds every match unless more follow.
                total = len(documents)
                if total > limit:
                    total = await collection.count_documents(query.matching, hint=query.hint)
        # Unlike SQLite the page and the total are two reads, not one snapshot:
        # a create or delete between them can make the total differ by that one.
        return ListPage(
            items=[list_item_from(document) for document in documents[:limit]],
            has_more=len(documents) > limit,
            total=total,
        )

    async def list_derivatives(
        self, *, org: str, uuid: str, after: Cursor | None, limit: int
    ) -> ListPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._connection.translated():
            collection = (await self._connection.ready()).vcons
            documents = await collection.find(
                derivatives_query(org, uuid, after),
                LIST_PROJECTION,
                sort=list(NEWEST_FIRST),
                limit=limit + 1,
            ).to_list()
        return ListPage(
            items=[list_item_from(document) for document in documents[:limit]],
            has_more=len(documents) > limit,
        )

    async def lineage_of(self, *, org: str, uuid: str) -> Lineage | None:
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.vcons.find_one(live(org, uuid), {F.LINEAGE: 1})
        if found is None:
            raise VconNotFound(uuid)
        lineage = found.get(F.LINEAGE)
        if not isinstance(lineage, dict):
            return None
        return Lineage(parent_uuid=lineage["parent"], type=lineage["type"])

    # --- API keys ---------------------------------------------------------------

    async def create_api_key(self, *, record: ApiKeyRecord) -> None:
        with self._connection.translated():
            collections = await self._connection.ready()
            try:
                await collections.api_keys.insert_one(keys.key_document(record))
            except DuplicateKeyError:
                raise ValueError("an API key with this id or this key exists") from None

    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.api_keys.find({"prefix": prefix}).to_list()
        return [keys.key_from(document) for document in found]

    async def list_api_keys(self, *, org: str, after: Cursor | None, limit: int) -> ApiKeyPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.api_keys.find(
                keys.list_query(org, after), sort=keys.LIST_SORT, limit=limit + 1
            ).to_list()
        return ApiKeyPage(
            items=[keys.key_from(document) for document in found[:limit]],
            has_more=len(found) > limit,
        )

    async def revoke_api_key(self, *, org: str, key_id: str, at: datetime) -> ApiKeyRecord:
        with self._connection.translated():
            collections = await self._connection.ready()
            found = await collections.api_keys.find_one_and_update(
                {"_id": key_id, "org": org},
                keys.revoke_update(at),
                return_document=ReturnDocument.AFTER,
            )
        if found is None:
            raise ApiKeyNotFound(key_id)
        return keys.key_from(found)

    async def touch_api_keys(self, *, used: Sequence[tuple[str, datetime]]) -> None:
        if not used:
            return
        with self._connection.translated():
            collections = await self._connection.ready()
            await collections.api_keys.bulk_write(keys.touch_updates(used), ordered=False)

    # --- internals -------------------------------------------------------------

    def _limit_for(self, entry: dict[str, Any] | None) -> int:
        """The size a document may have when stored: with a ledger entry, room
        is kept for the receipt stored into it later (and a deletion's entry),
        or that later update would fail for good."""
        return self._max_document_bytes - (0 if entry is None else LEDGER_HEADROOM_BYTES)

    def _attach(self, client: AsyncMongoClient[Document]) -> tuple[_Collections, Work]:
        database = client.get_database(self._options.database)
        collection = database.get_collection(self._options.collection)
        majority = database.get_collection(
            self._options.collection, read_concern=ReadConcern("majority")
        )

        # Always the primary: a lagging secondary would let a revoked key work
        # for as long as it lags.
        api_keys = database.get_collection(
            keys.collection_name(self._options.collection), read_preference=ReadPreference.PRIMARY
        )

        async def build_indexes() -> None:
            await collection.create_indexes(list(INDEXES))
            await api_keys.create_indexes(list(keys.KEY_INDEXES))

        return _Collections(collection, majority, api_keys), build_indexes


async def _probe(collections: _Collections) -> None:
    await collections.vcons.find_one(_PROBE, {"_id": 1})


async def _both(
    first: Coroutine[Any, Any, list[Document]], second: Coroutine[Any, Any, int]
) -> tuple[list[Document], int]:
    """Both results; if either fails, the other is cancelled and awaited, so no
    task outlives the call with an exception nobody retrieves."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        documents, total = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return documents, total
