"""The ledger's production storage: the Merkle log in three MongoDB
collections, through pymongo's async API (never Motor).

Layout, in the configured database:

    ledger_leaves   _id = leaf index; leaf_hash (unique index `leaf_hash`),
                    vcon_uuid, operation, registered_us (int64 microseconds, UTC;
                    exact), registered_at (BSON date of the same instant, for
                    people and tools), statement (binary). Index `vcon_uuid_id`
                    on (vcon_uuid, _id) serves leaves_for_vcon in index order.
    ledger_nodes    _id = level * 2**56 + index (one int64, so that a proof's
                    nodes are one `$in` on the _id index), hash
    ledger_heads    _id = tree size; root, signed_us, signed_at,
                    receipt_protected, receipt_signature, checkpoint

A batch must be atomic, but a MongoDB without a replica set has no
multi-document transactions, so none are used anywhere. Instead the head is
the commit point:

* append() writes the leaves, then the nodes, and the head LAST; every write
  is acknowledged by a majority of the replica set, in its journal (the
  ledger forces w=majority, j=true whatever the store's write concern is:
  leaves acknowledged by one member could be rolled back after a failover
  while the head written after them survives). The head's unique _id also
  stops a second sequencer that got past the size check at the same time.
* Every read first takes the size S of the latest head, read at majority, and
  then sees only leaves with index < S and nodes inside the tree of size S;
  a half-written batch lies entirely at or beyond S, so it is invisible. Two
  round trips per read (the head, then the data); a proof's nodes are still
  one query. Whatever lies below S is committed and is never changed again.
* What lies beyond S is a crash's (or a failed append's) leftover. The first
  append() of an instance deletes it (once it holds the writer lease, below),
  and so does the next append() after one of its appends failed. A retried
  batch is then written on a clean slate, whether or not it is the same
  batch as before: duplicates of a first attempt cannot collide with it, and
  stale ones cannot survive it.

After an append fails (StorageUnavailable), whether its head was written is
unknown: the caller compares latest_head() with the head it tried to write.

Only one process appends: the discarding would otherwise delete another
process's half-written batch. Appending takes a lease document
(`ledger_writer`: owner, until), renewed at the start of every append and
released on close; a second ledger process on the same database fails its
appends with StorageUnavailable until the first stops or its lease expires
(LEASE_SECONDS after its last append), then takes over, discarding leftovers
first. Every append is bounded to APPEND_SECONDS by pymongo's client-side
operation timeout, well inside the lease it renewed, so a writer's head
cannot land after a successor took over, unless the hosts' clocks disagree by
more than the difference. Reads and writes go to the primary whatever the
URI's read preference. Run one ledger process per log all the same (on
Kubernetes, one replica with the Recreate strategy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReadPreference
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from vconstore.domain.errors import StorageUnavailable
from vconstore.ledger.ports import AppendBatch, LeafRecord, NodeKey, TreeHead
from vconstore.storage.mongo.lifecycle import (
    ClientFactory,
    Document,
    MongoConnection,
    Work,
    connect,
)
from vconstore.storage.mongo.options import DEFAULT_CLIENT_OPTIONS, MongoOptions
from vconstore.storage.normalise import from_micros, to_micros, utc

from .batches import check_batch, check_limit, check_next, in_tree

__all__ = ["HEADS", "LEAVES", "NODES", "MongoLedgerRepository", "leaf_document", "node_id"]

_log = logging.getLogger(__name__)

LEAVES: Final = "ledger_leaves"
NODES: Final = "ledger_nodes"
HEADS: Final = "ledger_heads"
LEASE: Final = "ledger_writer"
# How long an appending process keeps the log after its last append; another
# process may take over once it has run out (a crashed writer's is not released).
LEASE_SECONDS: Final = 30.0
# The longest one append may take (all of its operations together).
APPEND_SECONDS: Final = 10.0
_LEASE_ID: Final = "writer"

BY_LEAF_HASH: Final = "leaf_hash"
BY_VCON: Final = "vcon_uuid_id"
LEAF_INDEXES: Final = (
    # Duplicate detection and GetEntry; also refuses a leaf hash stored twice.
    IndexModel([("leaf_hash", ASCENDING)], name=BY_LEAF_HASH, unique=True),
    IndexModel([("vcon_uuid", ASCENDING), ("_id", ASCENDING)], name=BY_VCON),
)

_INDEX_BITS: Final = 56
_LEVELS: Final = 64
_DUPLICATE_KEY: Final = 11000
_NEWEST: Final = [("_id", DESCENDING)]
_OLDEST: Final = [("_id", ASCENDING)]


def node_id(key: NodeKey) -> int:
    """The _id of a node document: level * 2**56 + index."""
    level, index = key
    if not (0 <= level < _LEVELS and 0 <= index < 1 << _INDEX_BITS):
        raise ValueError(f"node key {key} is out of range")
    return level << _INDEX_BITS | index


@dataclass(frozen=True, slots=True)
class _Collections:
    leaves: AsyncCollection[Document]
    nodes: AsyncCollection[Document]
    # Read at the primary's latest state: the sequencer's own size check and
    # the discarding of leftovers (never below a head that exists at all).
    heads: AsyncCollection[Document]
    # Read at majority: only heads that no failover can roll back are served.
    committed_heads: AsyncCollection[Document]
    # One document: which ledger process may append, until when.
    lease: AsyncCollection[Document]


class MongoLedgerRepository:
    """`LedgerRepository` on MongoDB (see the module docstring for the layout
    and how a batch commits without transactions).

    open() does not wait for MongoDB: it validates the URI, creates the client
    and starts the preparation (indexes) in the
    background; every call waits for it, restarting it if it failed, and fails
    with StorageUnavailable while MongoDB is unreachable.

    Args:
        options: URI, database, timeouts and pool, shared with the vCon store
            (its `collection` is not used: the ledger's are fixed, above).
            The write concern is always majority and journaled here.
        client_factory: builds the client from the options (tests pass one
            for an in-process stand-in); the real AsyncMongoClient by default.
    """

    def __init__(self, options: MongoOptions, *, client_factory: ClientFactory = connect) -> None:
        self._options = options
        self._connection = MongoConnection(
            options,
            client_factory,
            attach=self._attach,
            log=_log,
            name="vconstore-ledger-mongo-prepare",
        )
        # One append at a time in this instance, as SQLite's writer thread does.
        self._appending = asyncio.Lock()
        # Whether anything may lie beyond the latest head (a failed append's,
        # or a crashed process's): discarded before this instance's first append.
        self._leftovers = True
        # The writer lease (see _hold_lease): who we are, and until when we held it.
        self._owner = uuid.uuid4().hex
        self._lease_until: datetime | None = None

    @property
    def options(self) -> MongoOptions:
        return self._options

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        if self._lease_until is not None:
            # Hand the log over at once rather than after the lease runs out.
            with contextlib.suppress(StorageUnavailable), self._connection.translated():
                collections = await self._connection.ready()
                await collections.lease.delete_one({"_id": _LEASE_ID, "owner": self._owner})
            self._lease_until = None
        await self._connection.close()

    async def ping(self) -> None:
        await self._connection.ping(_probe)

    async def append(self, batch: AppendBatch) -> None:
        check_batch(batch)
        leaves = [leaf_document(leaf) for leaf in batch.leaves]
        nodes = [{"_id": node_id(key), "hash": bytes(value)} for key, value in batch.nodes]
        head = _head_document(batch.head)
        async with self._appending:
            # Every operation of the append ends within APPEND_SECONDS (pymongo's
            # client-side operation timeout), well inside the lease renewed at
            # its start: a successor cannot take the log over while this head
            # may still be written (unless the hosts' clocks disagree by more
            # than LEASE_SECONDS - APPEND_SECONDS).
            with self._connection.translated(), pymongo.timeout(APPEND_SECONDS):
                collections = await self._connection.ready()
                await self._hold_lease(collections.lease)
                size = await _latest_size(collections.heads)
                check_next(batch, size)
                if self._leftovers:
                    await _discard_beyond(collections, size)
                # Until the head is written, whatever happens leaves leftovers.
                self._leftovers = True
                await _insert(collections.leaves, leaves)
                await _insert(collections.nodes, nodes)
                try:
                    await collections.heads.insert_one(head)
                except DuplicateKeyError:
                    raise ValueError(
                        f"a head of size {batch.head.size} already exists "
                        "(another sequencer appended meanwhile?)"
                    ) from None
                self._leftovers = False

    async def latest_head(self) -> TreeHead | None:
        with self._connection.translated():
            collections = await self._connection.ready()
            return await _first_head(collections.committed_heads, {}, _NEWEST)

    async def head_at(self, size: int) -> TreeHead | None:
        with self._connection.translated():
            collections = await self._connection.ready()
            return await _first_head(collections.committed_heads, {"_id": size}, _OLDEST)

    async def head_covering(self, index: int) -> TreeHead | None:
        with self._connection.translated():
            collections = await self._connection.ready()
            return await _first_head(collections.committed_heads, {"_id": {"$gt": index}}, _OLDEST)

    async def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        with self._connection.translated():
            collections = await self._connection.ready()
            size = await _latest_size(collections.committed_heads)
            wanted = {node_id(key): key for key in keys if in_tree(key, size)}
            if not wanted:
                return {}
            found = await collections.nodes.find({"_id": {"$in": list(wanted)}}).to_list()
        return {wanted[document["_id"]]: document["hash"] for document in found}

    async def leaves_by_hash(self, leaf_hashes: Collection[bytes]) -> dict[bytes, LeafRecord]:
        wanted = list(dict.fromkeys(bytes(leaf_hash) for leaf_hash in leaf_hashes))
        query = {"leaf_hash": {"$in": wanted}}
        leaves = await self._committed_leaves(query, limit=0) if wanted else []
        return {leaf.leaf_hash: leaf for leaf in leaves}

    async def leaf_at(self, index: int) -> LeafRecord | None:
        leaves = await self._committed_leaves({"_id": index}, limit=1)
        return leaves[0] if leaves else None

    async def leaves_for_vcon(
        self, vcon_uuid: str, *, after_index: int, limit: int
    ) -> list[LeafRecord]:
        check_limit(limit)
        query = {"vcon_uuid": vcon_uuid, "_id": {"$gt": after_index}}
        return await self._committed_leaves(query, limit=limit, hint=BY_VCON)

    # --- internals -------------------------------------------------------------

    async def _hold_lease(self, lease: AsyncCollection[Document]) -> None:
        """Become, or stay, the log's only writer before appending.

        Without transactions, a second ledger process (a rolling deploy, a
        misconfigured replica count) would discard the first one's half-written
        batch as leftovers, and the first one's head would then cover leaves
        that are gone. So appending needs the lease document: taken when free
        or expired, renewed by each append, released on close. A process that
        does not hold it fails its appends with StorageUnavailable until the
        holder stops or its lease runs out (LEASE_SECONDS after its last append).
        """
        # Checked and renewed on every append (one small write per batch), so
        # a writer whose lease another process took over fails at its next batch.
        now = datetime.now(UTC)
        until = now + timedelta(seconds=LEASE_SECONDS)
        try:
            before = await lease.find_one_and_update(
                {"_id": _LEASE_ID, "$or": [{"owner": self._owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self._owner, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The filter missed a live lease of another owner; the upsert then
            # collided with that document's _id.
            self._lease_until = None
            raise StorageUnavailable(
                "another ledger process is appending to this log (it holds the writer lease)"
            ) from None
        if before is None or before.get("owner") != self._owner:
            # Taken over (or first taken): whatever the last writer left half
            # written lies beyond the head, and goes before our first batch.
            self._leftovers = True
        self._lease_until = until

    async def _committed_leaves(
        self, query: Document, *, limit: int, hint: str | None = None
    ) -> list[LeafRecord]:
        """The leaves matching `query` below the latest head's size, by index."""
        with self._connection.translated():
            collections = await self._connection.ready()
            size = await _latest_size(collections.committed_heads)
            if size == 0:
                return []
            below = {"$and": [query, {"_id": {"$lt": size}}]}
            found = await collections.leaves.find(
                below, sort=_OLDEST, limit=limit, hint=hint
            ).to_list()
        return [_leaf_from(document) for document in found]

    def _attach(self, client: AsyncMongoClient[Document]) -> tuple[_Collections, Work]:
        wtimeout = self._options.write_timeout_ms
        if wtimeout is None:
            wtimeout = DEFAULT_CLIENT_OPTIONS["wTimeoutMS"]
        database: AsyncDatabase[Document] = client.get_database(
            self._options.database,
            write_concern=WriteConcern(w="majority", j=True, wtimeout=wtimeout),
            # Whatever the URI says: a lagging secondary would show an older
            # head, and the writer would then discard committed entries as
            # "leftovers" beyond it.
            read_preference=ReadPreference.PRIMARY,
        )
        collections = _Collections(
            leaves=database.get_collection(LEAVES),
            nodes=database.get_collection(NODES),
            heads=database.get_collection(HEADS),
            committed_heads=database.get_collection(HEADS, read_concern=ReadConcern("majority")),
            lease=database.get_collection(LEASE),
        )

        async def prepare() -> None:
            await collections.leaves.create_indexes(list(LEAF_INDEXES))

        return collections, prepare


async def _probe(collections: _Collections) -> None:
    # Touches a collection (and so the privileges on it); matches nothing.
    await collections.heads.find_one({"_id": -1}, {"_id": 1})


async def _latest_size(heads: AsyncCollection[Document]) -> int:
    found = await heads.find({}, {"_id": 1}, sort=_NEWEST, limit=1).to_list()
    return int(found[0]["_id"]) if found else 0


async def _first_head(
    heads: AsyncCollection[Document], query: Document, sort: list[tuple[str, int]]
) -> TreeHead | None:
    found = await heads.find(query, sort=sort, limit=1).to_list()
    return _head_from(found[0]) if found else None


async def _discard_beyond(collections: _Collections, size: int) -> None:
    """Delete the leaves and nodes that no head of `size` or less covers."""
    beyond = [
        {"_id": {"$gte": node_id((level, size >> level)), "$lt": (level + 1) << _INDEX_BITS}}
        for level in range(_LEVELS)
        if size >> level < 1 << _INDEX_BITS
    ]
    await collections.nodes.delete_many({"$or": beyond})
    await collections.leaves.delete_many({"_id": {"$gte": size}})


async def _insert(collection: AsyncCollection[Document], documents: Sequence[Document]) -> None:
    """Ordered: the first duplicate stops the rest (they are leftovers anyway)."""
    try:
        await collection.insert_many(documents, ordered=True)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if errors and all(error.get("code") == _DUPLICATE_KEY for error in errors):
            # A leaf hash already in the log (the _ids beyond the size were
            # cleared first). The message would quote the key: not repeated.
            raise ValueError(
                f"the batch conflicts with the log: a duplicate key in {collection.name}"
            ) from None
        raise


def leaf_document(leaf: LeafRecord) -> Document:
    """The stored form of a leaf (tests write half-written batches with it)."""
    return {
        "_id": leaf.index,
        "leaf_hash": bytes(leaf.leaf_hash),
        "vcon_uuid": leaf.vcon_uuid,
        "operation": leaf.operation,
        "registered_us": to_micros(leaf.registered_at),
        "registered_at": utc(leaf.registered_at),
        "statement": bytes(leaf.statement),
    }


def _leaf_from(document: Document) -> LeafRecord:
    return LeafRecord(
        index=int(document["_id"]),
        leaf_hash=bytes(document["leaf_hash"]),
        statement=bytes(document["statement"]),
        vcon_uuid=document["vcon_uuid"],
        operation=document["operation"],
        registered_at=from_micros(document["registered_us"]),
    )


def _head_document(head: TreeHead) -> Document:
    return {
        "_id": head.size,
        "root": bytes(head.root),
        "signed_us": to_micros(head.signed_at),
        "signed_at": utc(head.signed_at),
        "receipt_protected": bytes(head.receipt_protected),
        "receipt_signature": bytes(head.receipt_signature),
        "checkpoint": head.checkpoint,
    }


def _head_from(document: Document) -> TreeHead:
    return TreeHead(
        size=int(document["_id"]),
        root=bytes(document["root"]),
        signed_at=from_micros(document["signed_us"]),
        receipt_protected=bytes(document["receipt_protected"]),
        receipt_signature=bytes(document["receipt_signature"]),
        checkpoint=document["checkpoint"],
    )
