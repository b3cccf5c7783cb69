"""The MongoDB adapter under test: on the real server named by
VCON_TEST_MONGODB_URI (a fresh database, dropped afterwards), else on the
in-process stand-in. Also gives tests the raw collection, to look at the
stored documents and indexes through the same client API the adapter uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tests.mongo_standin import StandInServer
from tests.support import MONGODB_TEST_URI
from vconstore.storage.mongo import ClientFactory, MongoOptions, MongoVconRepository, connect

STANDIN_URI = "mongodb://stand-in.invalid"


@dataclass
class MongoDatabaseUnderTest:
    """A fresh database: on the real server, or on a stand-in server of its own."""

    options: MongoOptions
    # Builds an adapter's client: the real one, or one of the stand-in's.
    client_factory: ClientFactory
    # A raw handle on the database (pymongo AsyncDatabase or the stand-in's).
    database: Any
    # None on a real server: outages can only be staged on the stand-in.
    standin: StandInServer | None


@asynccontextmanager
async def mongo_database(**option_changes: Any) -> AsyncIterator[MongoDatabaseUnderTest]:
    """Dropped afterwards on a real server; a stand-in's simply goes away."""
    standin = None if MONGODB_TEST_URI else StandInServer()
    options = MongoOptions(
        uri=MONGODB_TEST_URI or STANDIN_URI,
        database=f"vconstore_test_{uuid.uuid4().hex[:16]}",
        **option_changes,
    )
    client_factory: ClientFactory = connect if standin is None else standin.client
    client = client_factory(options)
    try:
        yield MongoDatabaseUnderTest(
            options, client_factory, client.get_database(options.database), standin
        )
    finally:
        if standin is None:
            await client.drop_database(options.database)
        await client.close()


@dataclass
class MongoUnderTest:
    repository: MongoVconRepository
    options: MongoOptions
    # The raw collection (pymongo AsyncCollection or the stand-in's).
    collection: Any
    # None on a real server: outages can only be staged on the stand-in.
    standin: StandInServer | None

    def another_repository(self, **changes: Any) -> MongoVconRepository:
        """A second adapter on the same database (a second service instance)."""
        if self.standin is None:
            return MongoVconRepository(self.options, **changes)
        return MongoVconRepository(self.options, client_factory=self.standin.client, **changes)


@asynccontextmanager
async def mongo_under_test(
    *, open_repository: bool = True, **option_changes: Any
) -> AsyncIterator[MongoUnderTest]:
    async with mongo_database(**option_changes) as mongo:
        options = mongo.options
        repository = MongoVconRepository(options, client_factory=mongo.client_factory)
        collection = mongo.database.get_collection(options.collection)
        try:
            if open_repository:
                await repository.open()
            yield MongoUnderTest(repository, options, collection, mongo.standin)
        finally:
            await repository.close()
