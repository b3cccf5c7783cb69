"""An in-process stand-in for `pymongo.AsyncMongoClient`, over mongomock.

No MongoDB server can be installed on these machines, so the MongoDB adapter's
contract tests run against this unless VCON_TEST_MONGODB_URI names a real one.
It presents only the subset of PyMongo Async the adapter uses, with PyMongo
Async's call conventions, and corrects what mongomock gets wrong so that the
adapter needs no special case for it (see ../shared/research/ecosystem.md):

* call forms: every operation is a coroutine, `find()` returns a cursor whose
  `to_list()` is awaited, `close()` is awaited; mongomock is synchronous and
  mongomock-motor follows Motor's forms (not awaitable `aggregate`, plain
  `close`), which is why this is a facade over mongomock itself, and why the
  tests do not pull in Motor at all;
* interleaving: each call yields to the event loop first, as network I/O
  would, so concurrent calls really race (duplicate-key races included);
* BSON: documents and filters go through bson.encode/decode, so what is
  stored is what MongoDB would store (millisecond dates, naive UTC datetimes,
  bytes, lists), and an unencodable value fails as with the driver;
* the 16 MiB limit: mongomock accepts any size; this raises DocumentTooLarge
  as the driver does;
* hints: mongomock ignores them; a hint naming no existing index fails here
  as on a server;
* `aggregate` is a coroutine returning a cursor whose `to_list()` is awaited,
  as in PyMongo Async (mongomock's own is synchronous);
* `bulk_write` takes UpdateOne requests only and applies them one by one
  (mongomock's own refuses pymongo >= 4.11's UpdateOne, which has `sort`);
* regular expressions: mongomock evaluates them with Python's `re`, MongoDB
  with PCRE; only patterns both read the same way (literal characters and
  escapes) are accepted, anything else fails loudly instead of matching
  differently;
* write concern: accepted and recorded (`client.kwargs`), not enforced;
* outages: `StandInServer.stop()` makes every call wait for the client's
  server selection timeout and raise ServerSelectionTimeoutError, as the real
  client does when MongoDB is unreachable; `start()` brings it back, with the
  data it held.

Not modelled: query plans and explain() (they need a real server), sessions,
aggregation stages mongomock does not implement, sorting on an array field
(mongomock does not sort by the array's smallest or largest element as
MongoDB does: sort after an $unwind instead), and anything the adapter does
not call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import bson
import mongomock
from pymongo import AsyncMongoClient, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import (
    DocumentTooLarge,
    InvalidOperation,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from vconstore.storage.mongo import MongoOptions

__all__ = ["StandInClient", "StandInServer"]

Document = dict[str, Any]
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
# pymongo's default when neither the URI nor a keyword sets it.
_DEFAULT_SERVER_SELECTION_MS = 30_000
# Only what the adapter's literal_pattern() writes: ASCII letters and digits,
# non-ASCII characters, a backslash before ASCII punctuation or a space, and
# \xHH. Unescaped punctuation would be an operator in either dialect.
_PORTABLE_REGEX = re.compile(r"(?:[A-Za-z0-9]|[^\x00-\x7f]|\\[ -/:-@\[-`{-~]|\\x[0-9a-fA-F]{2})*")


class StandInServer:
    """One in-memory "mongod": its data outlives the clients connected to it."""

    def __init__(self) -> None:
        self.backend: mongomock.MongoClient = mongomock.MongoClient()
        self.reachable = True
        self.clients: list[StandInClient] = []

    def stop(self) -> None:
        self.reachable = False

    def start(self) -> None:
        self.reachable = True

    def client(self, options: MongoOptions) -> AsyncMongoClient[Document]:
        """A client factory for MongoVconRepository(client_factory=...)."""
        client = StandInClient(self, options.uri, **options.client_kwargs())
        self.clients.append(client)
        # The adapter is typed against the real client; this presents its subset.
        return cast("AsyncMongoClient[Document]", client)


class StandInClient:
    def __init__(self, server: StandInServer, uri: str, **kwargs: Any) -> None:
        self.server = server
        self.uri = uri
        self.kwargs = kwargs
        self.closed = False
        selection_ms = kwargs.get("serverSelectionTimeoutMS", _DEFAULT_SERVER_SELECTION_MS)
        self.server_selection_timeout = float(selection_ms) / 1000

    def get_database(self, name: str, **_options: Any) -> StandInDatabase:
        return StandInDatabase(self, name)

    def __getitem__(self, name: str) -> StandInDatabase:
        return self.get_database(name)

    @property
    def admin(self) -> StandInDatabase:
        return self.get_database("admin")

    async def drop_database(self, name: str) -> None:
        await self._reach()
        self.server.backend.drop_database(name)

    async def close(self) -> None:
        self.closed = True

    async def _reach(self) -> None:
        """What every operation does before talking to the server."""
        if self.closed:
            raise InvalidOperation("Cannot use AsyncMongoClient after close")
        # Let other tasks run, as a network round trip would.
        await asyncio.sleep(0)
        if not self.server.reachable:
            await asyncio.sleep(self.server_selection_timeout)
            raise ServerSelectionTimeoutError("stand-in: server unreachable (connection refused)")


class StandInDatabase:
    def __init__(self, client: StandInClient, name: str) -> None:
        self.client = client
        self.name = name

    def get_collection(self, name: str, **_options: Any) -> StandInCollection:
        return StandInCollection(self, name)

    def __getitem__(self, name: str) -> StandInCollection:
        return self.get_collection(name)

    async def command(self, command: str | Mapping[str, Any]) -> Document:
        await self.client._reach()
        name = command if isinstance(command, str) else next(iter(command))
        if name != "ping":
            raise NotImplementedError(f"stand-in: command {name!r}")
        return {"ok": 1.0}


class StandInCollection:
    def __init__(self, database: StandInDatabase, name: str) -> None:
        self.database = database
        self.name = name

    @property
    def _mock(self) -> mongomock.Collection:
        backend = self.database.client.server.backend
        return backend.get_database(self.database.name).get_collection(self.name)

    async def create_indexes(self, indexes: Sequence[IndexModel]) -> list[str]:
        await self.database.client._reach()
        return cast("list[str]", self._mock.create_indexes(list(indexes)))

    async def index_information(self) -> Document:
        await self.database.client._reach()
        return cast(Document, self._mock.index_information())

    async def insert_one(self, document: Document) -> InsertOneResult:
        await self.database.client._reach()
        stored = _as_stored(document)
        self._mock.insert_one(stored)
        return InsertOneResult(stored["_id"], acknowledged=True)

    async def insert_many(
        self, documents: Sequence[Document], *, ordered: bool = True
    ) -> InsertManyResult:
        """Raises BulkWriteError (writeErrors with code 11000 for a duplicate
        key) as the driver does; ordered: the first error stops the rest."""
        await self.database.client._reach()
        stored = [_as_stored(document) for document in documents]
        self._mock.insert_many(stored, ordered=ordered)
        return InsertManyResult([document["_id"] for document in stored], acknowledged=True)

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> UpdateResult:
        """An upsert whose filter misses a document with the same _id raises
        DuplicateKeyError, as the server does."""
        await self.database.client._reach()
        result = self._mock.update_one(_as_bson(filter), _as_bson(update), upsert=upsert)
        return UpdateResult(result.raw_result, acknowledged=True)

    async def bulk_write(
        self, requests: Sequence[UpdateOne], *, ordered: bool = True
    ) -> BulkWriteResult:
        """UpdateOne requests, applied in order; a failing one raises at once,
        whatever `ordered` says. No upserts, array_filters, hint or sort."""
        await self.database.client._reach()
        matched = modified = 0
        for request in requests:
            if not isinstance(request, UpdateOne):
                raise NotImplementedError(f"stand-in: bulk_write of {type(request).__name__}")
            # pymongo keeps a request's parts in private attributes only.
            update = request._doc
            if not isinstance(update, Mapping):
                raise NotImplementedError("stand-in: pipeline updates")
            if request._upsert or request._array_filters or request._sort or request._hint:
                raise NotImplementedError("stand-in: bulk_write options")
            result = self._mock.update_one(_as_bson(request._filter), _as_bson(update))
            matched += result.matched_count
            modified += result.modified_count
        return BulkWriteResult(
            {
                "writeErrors": [],
                "writeConcernErrors": [],
                "nInserted": 0,
                "nUpserted": 0,
                "nMatched": matched,
                "nModified": modified,
                "nRemoved": 0,
                "upserted": [],
            },
            acknowledged=True,
        )

    async def aggregate(
        self, pipeline: Sequence[Mapping[str, Any]], *, hint: str | None = None
    ) -> StandInCommandCursor:
        """Like PyMongo Async: awaited, it runs the pipeline and returns a cursor."""
        await self.database.client._reach()
        self._check_hint(hint)
        stages = bson.decode(bson.encode({"pipeline": list(pipeline)}))["pipeline"]
        _check_regexes(stages)
        return StandInCommandCursor([dict(found) for found in self._mock.aggregate(stages)])

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
    ) -> Document | None:
        """The document before the update (None if the upsert inserted it), or
        after it with ReturnDocument.AFTER."""
        await self.database.client._reach()
        found = self._mock.find_one_and_update(
            _as_bson(filter), _as_bson(update), upsert=upsert, return_document=return_document
        )
        return None if found is None else dict(found)

    async def find_one(
        self, filter: Mapping[str, Any], projection: Mapping[str, Any] | None = None
    ) -> Document | None:
        await self.database.client._reach()
        found = self._mock.find_one(_as_bson(filter), projection)
        return None if found is None else dict(found)

    def find(
        self,
        filter: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 0,
        hint: str | None = None,
    ) -> StandInCursor:
        # Like pymongo: building the cursor does no I/O; to_list() does.
        return StandInCursor(self, _as_bson(filter), projection, sort, limit, hint)

    async def count_documents(self, filter: Mapping[str, Any], *, hint: str | None = None) -> int:
        await self.database.client._reach()
        self._check_hint(hint)
        return int(self._mock.count_documents(_as_bson(filter)))

    async def delete_one(self, filter: Mapping[str, Any]) -> DeleteResult:
        await self.database.client._reach()
        result = self._mock.delete_one(_as_bson(filter))
        return DeleteResult({"n": result.deleted_count, "ok": 1.0}, acknowledged=True)

    async def delete_many(self, filter: Mapping[str, Any]) -> DeleteResult:
        await self.database.client._reach()
        result = self._mock.delete_many(_as_bson(filter))
        return DeleteResult({"n": result.deleted_count, "ok": 1.0}, acknowledged=True)

    def _check_hint(self, hint: str | None) -> None:
        if hint is not None and hint not in self._mock.index_information():
            raise OperationFailure(
                "error processing query: planner returned error :: caused by :: "
                "hint provided does not correspond to an existing index",
                code=2,
            )


class StandInCursor:
    def __init__(
        self,
        collection: StandInCollection,
        filter: Document,
        projection: Mapping[str, Any] | None,
        sort: list[tuple[str, int]] | None,
        limit: int,
        hint: str | None,
    ) -> None:
        self._collection = collection
        self._filter = filter
        self._projection = projection
        self._sort = sort
        self._limit = limit
        self._hint = hint

    async def to_list(self, length: int | None = None) -> list[Document]:
        collection = self._collection
        await collection.database.client._reach()
        collection._check_hint(self._hint)
        cursor = collection._mock.find(self._filter, self._projection)
        if self._sort:
            cursor = cursor.sort(self._sort)
        if self._limit:
            cursor = cursor.limit(self._limit)
        found = [dict(document) for document in cursor]
        return found if length is None else found[:length]

    async def explain(self) -> Document:
        raise NotImplementedError("stand-in: query plans need a real MongoDB server")


class StandInCommandCursor:
    """What an awaited aggregate() returns: the results are already read."""

    def __init__(self, documents: list[Document]) -> None:
        self._documents = documents

    async def to_list(self, length: int | None = None) -> list[Document]:
        """The next `length` results (all that are left if None), as pymongo's."""
        if length is None:
            length = len(self._documents)
        found, self._documents = self._documents[:length], self._documents[length:]
        return found


def _as_stored(document: Document) -> Document:
    """The document as the server would store it, refused over 16 MiB as the driver does."""
    encoded = bson.encode(document)
    if len(encoded) > MAX_BSON_OBJECT_SIZE:
        raise DocumentTooLarge(
            f"BSON document too large ({len(encoded)} bytes) - the connected server "
            f"supports BSON document sizes up to {MAX_BSON_OBJECT_SIZE} bytes."
        )
    return bson.decode(encoded)


def _as_bson(filter: Mapping[str, Any]) -> Document:
    """The filter as the server would receive it, with regexes checked."""
    _check_regexes(filter)
    return bson.decode(bson.encode(filter))


def _check_regexes(value: object) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "$regex" and not (isinstance(item, str) and _PORTABLE_REGEX.fullmatch(item)):
                raise NotImplementedError(
                    f"stand-in: {item!r} might match differently under PCRE than under re"
                )
            _check_regexes(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_regexes(item)
