"""Backends under contract, keyed by the id that appears in test names.

To put another backend under contract, add one async factory to BACKENDS:
it receives a fresh per-test temporary directory (use its name for a unique
database name if the backend is a server) and yields an OPEN repository that
holds no data, closing it afterwards. Every test in this folder that takes the
`repo` fixture then runs on it too, as `test_name[<id>]`. A factory may call
pytest.skip() when its backend is not reachable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from vconstore.ports import VconRepository
from vconstore.storage.memory import InMemoryVconRepository
from vconstore.storage.sqlite import SqliteVconRepository

from .mongo_setup import mongo_under_test

BackendFactory = Callable[[Path], AbstractAsyncContextManager[VconRepository]]


@asynccontextmanager
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[VconRepository]:
    repository = SqliteVconRepository(tmp_path / "vcons.sqlite3")
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


@asynccontextmanager
async def memory_backend(tmp_path: Path) -> AsyncIterator[VconRepository]:
    repository = InMemoryVconRepository()
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


@asynccontextmanager
async def mongo_backend(tmp_path: Path) -> AsyncIterator[VconRepository]:
    """A real MongoDB when VCON_TEST_MONGODB_URI is set, else the in-process
    stand-in (tests/mongo_standin.py); see mongo_setup.py."""
    async with mongo_under_test() as mongo:
        yield mongo.repository


BACKENDS: dict[str, BackendFactory] = {
    "sqlite": sqlite_backend,
    "memory": memory_backend,
    "mongo": mongo_backend,
}


@pytest.fixture(params=list(BACKENDS))
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VconRepository]:
    backend: str = request.param
    async with BACKENDS[backend](tmp_path) as repository:
        yield repository
