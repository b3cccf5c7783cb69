"""The production storage: one MongoDB document per vCon, behind the storage port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError, DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern

from vconstore.domain.errors import StorageUnavailable, VconNotFound
from vconstore.ports import (
    Cursor,
    ExistingVcon,
    ListPage,
    StoredVcon,
    VconFilter,
    VconRecord,
)

from .documents import (
    EXISTING_PROJECTION,
    LIST_PROJECTION,
    MAX_DOCUMENT_BYTES,
    STORED_PROJECTION,
    check_size,
    existing_from,
    list_item_from,
    stored_from,
    to_document,
)
from .errors import is_storage_failure, unavailable
from .indexes import INDEXES
from .options import MongoOptions, redact
from .queries import by_key, list_query

__all__ = ["ClientFactory", "MongoVconRepository", "connect"]

_log = logging.getLogger(__name__)

Document = dict[str, Any]
ClientFactory = Callable[[MongoOptions], AsyncMongoClient[Document]]

# A duplicate-key error whose winner is gone by the time it is read means it
# was erased in between; trying again settles it, unless erasures keep racing.
_INSERT_ATTEMPTS: Final = 3
# Touches the collection (and so the credentials' privileges on it), not just
# the server: matches no document and is answered from the org_uuid index.
_PROBE: Final = by_key("", "")


def connect(options: MongoOptions) -> AsyncMongoClient[Document]:
    """The real client. No I/O happens here: AsyncMongoClient connects on first
    use (and resolves a mongodb+srv:// name then), so this cannot block."""
    return AsyncMongoClient(options.uri, **options.client_kwargs())


class MongoVconRepository:
    """`VconRepository` on a MongoDB collection, through pymongo's async API.

    Every write is one single-document operation (no transactions, so a
    standalone mongod serves), acknowledged under the configured write concern
    (majority, journaled by default). A concurrent create of the same uuid is
    detected by the unique (org, uuid) index and answered with the winner.

    open() does not wait for MongoDB: it validates the URI, creates the client
    and starts building the indexes in the background, so the service starts
    (and reports NOT_SERVING) while MongoDB is down. Every operation first
    waits for that build, restarting it if it failed, so nothing is written
    before the unique index exists; while MongoDB is unreachable each call
    fails with StorageUnavailable after the server selection timeout, and the
    driver reconnects on its own when MongoDB returns.

    delete() removes the document. MongoDB keeps no copy in the collection,
    but a replica set's oplog and any backups hold one until they roll over.

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
        self._client_factory = client_factory
        self._max_document_bytes = max_document_bytes
        self._lifecycle = asyncio.Lock()
        self._client: AsyncMongoClient[Document] | None = None
        self._collection: AsyncCollection[Document] | None = None
        self._majority: AsyncCollection[Document] | None = None
        self._indexed = False
        self._indexing: asyncio.Task[None] | None = None
        # Last state seen, so an outage is logged once, not on every call.
        self._available: bool | None = None

    @property
    def options(self) -> MongoOptions:
        return self._options

    async def open(self) -> None:
        async with self._lifecycle:
            if self._client is not None:
                return
            try:
                client = self._client_factory(self._options)
            except (ConfigurationError, ValueError) as exc:  # pymongo raises both
                # Not chained, and scrubbed: pymongo's message may quote the URI.
                raise ValueError(
                    f"invalid MongoDB configuration for {self._options.describe()}: "
                    f"{redact(str(exc), self._options.uri)}"
                ) from None
            database = client.get_database(self._options.database)
            self._client = client
            self._collection = database.get_collection(self._options.collection)
            # The winner of a duplicate create is read at majority: a retry is
            # answered OK only once the first write is as durable as its own.
            self._majority = database.get_collection(
                self._options.collection, read_concern=ReadConcern("majority")
            )
            self._start_indexing(self._collection)

    async def close(self) -> None:
        async with self._lifecycle:
            client, indexing = self._client, self._indexing
            self._client = self._collection = self._majority = self._indexing = None
            self._indexed = False
            if indexing is not None and not indexing.done():
                indexing.cancel()
                # wait(), not await: the build's own cancellation is no error
                # here, and this caller's cancellation must still propagate.
                await asyncio.wait([indexing])
            if client is not None:
                await client.close()

    async def ping(self) -> None:
        collection = self._opened()
        with self._translated():
            await self._ready(collection)
            await collection.find_one(_PROBE, {"_id": 1})
        if self._available is False:
            _log.info("MongoDB storage available again")
        self._available = True

    async def insert(self, *, record: VconRecord) -> ExistingVcon | None:
        document = to_document(record)
        check_size(document, limit=self._max_document_bytes)
        collection = self._opened()
        with self._translated():
            await self._ready(collection)
            for _ in range(_INSERT_ATTEMPTS):
                try:
                    await collection.insert_one(document)
                    return None
                except DuplicateKeyError:
                    found = await (self._majority or collection).find_one(
                        by_key(record.org, record.uuid), EXISTING_PROJECTION
                    )
                    if found is not None:
                        return existing_from(record.uuid, found)
        raise StorageUnavailable("MongoDB storage: a create kept racing with erasures")

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        collection = self._opened()
        with self._translated():
            await self._ready(collection)
            found = await collection.find_one(by_key(org, uuid), STORED_PROJECTION)
        if found is None:
            raise VconNotFound(uuid)
        return stored_from(uuid, found)

    async def delete(self, *, org: str, uuid: str) -> None:
        collection = self._opened()
        with self._translated():
            await self._ready(collection)
            result = await collection.delete_one(by_key(org, uuid))
        if result.deleted_count == 0:
            raise VconNotFound(uuid)

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        query = list_query(org, filter, after, limit)
        collection = self._opened()
        with self._translated():
            await self._ready(collection)
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

    # --- internals -------------------------------------------------------------

    def _opened(self) -> AsyncCollection[Document]:
        if self._collection is None:
            raise StorageUnavailable("MongoDB storage is not open")
        return self._collection

    async def _ready(self, collection: AsyncCollection[Document]) -> None:
        """Wait until the indexes exist, (re)starting their build if needed.

        Concurrent callers share one attempt, so while MongoDB is down they all
        fail after one server selection timeout rather than one after another.
        """
        if self._indexed:
            return
        indexing = self._indexing
        if indexing is None or indexing.done():
            indexing = self._start_indexing(collection)
        try:
            # shield: a caller that gives up (cancelled by its deadline) must not
            # cancel the build the other callers are waiting for.
            await asyncio.shield(indexing)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if indexing.cancelled() and current is not None and not current.cancelling():
                # close() stopped the build; this caller was not cancelled itself.
                raise StorageUnavailable("MongoDB storage is not open") from None
            raise

    def _start_indexing(self, collection: AsyncCollection[Document]) -> asyncio.Task[None]:
        async def build() -> None:
            await collection.create_indexes(list(INDEXES))
            self._indexed = True

        task = asyncio.get_running_loop().create_task(build(), name="vconstore-mongo-indexes")
        # Retrieve the outcome even if nobody awaits it (open() does not), so a
        # failure that the next call retries is not reported as "never retrieved".
        task.add_done_callback(_consume)
        self._indexing = task
        return task

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            if not is_storage_failure(exc):
                raise
            error = unavailable(exc)
            if self._available is not False:
                _log.warning("%s", error)
            self._available = False
            raise error from exc


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


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
