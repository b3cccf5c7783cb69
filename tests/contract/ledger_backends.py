"""Ledger storage backends under contract, keyed by the id that appears in test
names: the ledger's counterpart of conftest.py's BACKENDS (whose `repo`
fixture is the vCon store's and is left alone).

Each factory receives a fresh per-test temporary directory and yields a
LedgerStorage: empty storage, from which the test opens repositories one
after another (a reopen is a new repository on the same file or database).
A test module takes the fixtures by making them its attributes:

    ledger_storage = ledger_backends.ledger_storage
    ledger_repo = ledger_backends.ledger_repo

Also here: deterministic batch data built with plain hashlib, shared by the
tests and by the child process of the SQLite crash test (`run_appender`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vconstore.ledger.ports import AppendBatch, LeafRecord, LedgerRepository, NodeKey, TreeHead
from vconstore.ledger.storage.memory import InMemoryLedgerRepository
from vconstore.ledger.storage.mongo import MongoLedgerRepository
from vconstore.ledger.storage.sqlite import SqliteLedgerRepository

from .mongo_setup import MongoDatabaseUnderTest, mongo_database

__all__ = [
    "LEDGER_BACKENDS",
    "LedgerStorage",
    "crash_batch_sizes",
    "created_nodes",
    "ledger_repo",
    "ledger_storage",
    "make_batch",
    "make_leaf",
    "node_hash",
    "run_appender",
]

VCONS = (
    "018f0000-0000-7000-8000-00000000000a",
    "018f0000-0000-7000-8000-00000000000b",
    "018f0000-0000-7000-8000-00000000000c",
)
OPERATIONS = ("register", "amend", "redact", "delete")
T0 = datetime(2026, 2, 18, 9, 0, tzinfo=UTC)


@dataclass
class LedgerStorage:
    """One backend's storage for one test."""

    name: str
    # A new, unopened repository on this storage.
    new_repository: Callable[[], LedgerRepository]
    # SQLite: the database file.
    path: Path | None = None
    # MongoDB: the database, with a raw handle on it.
    mongo: MongoDatabaseUnderTest | None = None


LedgerBackendFactory = Callable[[Path], AbstractAsyncContextManager[LedgerStorage]]


@asynccontextmanager
async def sqlite_ledger(tmp_path: Path) -> AsyncIterator[LedgerStorage]:
    path = tmp_path / "ledger" / "ledger.sqlite3"
    yield LedgerStorage("sqlite", lambda: SqliteLedgerRepository(path), path=path)


@asynccontextmanager
async def memory_ledger(tmp_path: Path) -> AsyncIterator[LedgerStorage]:
    # Its data outlives close(): reopening is opening the same object again.
    repository = InMemoryLedgerRepository()
    yield LedgerStorage("memory", lambda: repository)


@asynccontextmanager
async def mongo_ledger(tmp_path: Path) -> AsyncIterator[LedgerStorage]:
    """A real MongoDB when VCON_TEST_MONGODB_URI is set, else the in-process
    stand-in (tests/mongo_standin.py); see mongo_setup.py."""
    async with mongo_database() as mongo:

        def new_repository() -> LedgerRepository:
            return MongoLedgerRepository(mongo.options, client_factory=mongo.client_factory)

        yield LedgerStorage("mongo", new_repository, mongo=mongo)


LEDGER_BACKENDS: dict[str, LedgerBackendFactory] = {
    "sqlite": sqlite_ledger,
    "memory": memory_ledger,
    "mongo": mongo_ledger,
}


@pytest.fixture(params=list(LEDGER_BACKENDS))
async def ledger_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[LedgerStorage]:
    backend: str = request.param
    async with LEDGER_BACKENDS[backend](tmp_path) as storage:
        yield storage


@pytest.fixture
async def ledger_repo(ledger_storage: LedgerStorage) -> AsyncIterator[LedgerRepository]:
    """An open repository on empty storage of each backend."""
    repository = ledger_storage.new_repository()
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


# --- batch data ---------------------------------------------------------------


def make_leaf(index: int, *, statement: bytes | None = None) -> LeafRecord:
    statement = f"statement {index}".encode() * 3 if statement is None else statement
    return LeafRecord(
        index=index,
        leaf_hash=hashlib.sha256(b"\x00" + statement).digest(),
        statement=statement,
        vcon_uuid=VCONS[index % len(VCONS)],
        operation=OPERATIONS[index % len(OPERATIONS)],
        # Microseconds that a BSON date would lose.
        registered_at=T0 + timedelta(microseconds=1_001 * index + 7),
    )


def created_nodes(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees that growing the tree from `start` to `end` leaves completes."""
    return [
        (level, index)
        for level in range(end.bit_length())
        for index in range(start >> level, end >> level)
    ]


def node_hash(key: NodeKey) -> bytes:
    """Arbitrary but deterministic: the storage does not interpret node hashes."""
    return hashlib.sha256(f"node {key[0]} {key[1]}".encode()).digest()


def make_head(size: int) -> TreeHead:
    return TreeHead(
        size=size,
        root=hashlib.sha256(f"root {size}".encode()).digest(),
        signed_at=T0 + timedelta(seconds=size, microseconds=123_457),
        receipt_protected=b"\xa2\x01\x26\x04\x42" + size.to_bytes(2, "big"),
        receipt_signature=hashlib.sha512(f"signature {size}".encode()).digest(),
        checkpoint=f"example.com/log\n{size}\nroot{size}=\n\n\u2014 example.com/log sig{size}\n",
    )


def make_batch(
    start: int, count: int, *, statements: Sequence[bytes | None] | None = None
) -> AppendBatch:
    """Leaves start .. start + count - 1; `statements` replaces some leaves' statement."""
    chosen = statements or [None] * count
    leaves = [make_leaf(start + i, statement=chosen[i]) for i in range(count)]
    end = start + count
    return AppendBatch(
        leaves=leaves,
        nodes=[(key, node_hash(key)) for key in created_nodes(start, end)],
        head=make_head(end),
    )


def crash_batch_sizes() -> Iterator[int]:
    """The batch sizes of the crash test's child: varied, some crossing many levels."""
    return itertools.cycle((1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 7, 64))


async def run_appender(path: Path) -> None:
    """The crash test's child process: appends batches without end, printing
    each new size once its append() has returned (been acknowledged)."""
    repository = SqliteLedgerRepository(path)
    await repository.open()
    size = 0
    for count in crash_batch_sizes():
        await repository.append(make_batch(size, count))
        size += count
        sys.stdout.write(f"{size}\n")
        sys.stdout.flush()
        if size > 1_000_000:  # a bound, in case the parent dies without killing this
            break
    await asyncio.Event().wait()
