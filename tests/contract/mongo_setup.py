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
from vconstore.storage.mongo import MongoOptions, MongoVconRepository, connect

STANDIN_URI = "mongodb://stand-in.invalid"


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
    standin = None if MONGODB_TEST_URI else StandInServer()
    options = MongoOptions(
        uri=MONGODB_TEST_URI or STANDIN_URI,
        database=f"vconstore_test_{uuid.uuid4().hex[:16]}",
        **option_changes,
    )
    client = connect(options) if standin is None else standin.client(options)
    repository = (
        MongoVconRepository(options)
        if standin is None
        else MongoVconRepository(options, client_factory=standin.client)
    )
    collection = client.get_database(options.database).get_collection(options.collection)
    try:
        if open_repository:
            await repository.open()
        yield MongoUnderTest(repository, options, collection, standin)
    finally:
        await repository.close()
        if standin is None:
            await client.drop_database(options.database)
        await client.close()
