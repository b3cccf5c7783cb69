"""What every MongoDB adapter (the vCon store's, the ledger's) does around its
queries: building the client without echoing the URI, preparing the database
in the background while every call waits for that, and turning an outage into
StorageUnavailable, logged once rather than on every call. MongoConnection
puts these together; an adapter supplies its collections and its preparation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError, PyMongoError

from vconstore.domain.errors import StorageUnavailable

from .errors import is_storage_failure, unavailable
from .options import MongoOptions, redact

__all__ = [
    "ClientFactory",
    "Document",
    "MongoConnection",
    "Outages",
    "Preparation",
    "connect",
    "new_client",
]

Document = dict[str, Any]
ClientFactory = Callable[[MongoOptions], AsyncMongoClient[Document]]
Work = Callable[[], Coroutine[Any, Any, None]]
# An adapter's handles on the client: its collections, as it likes them.
H = TypeVar("H")


def connect(options: MongoOptions) -> AsyncMongoClient[Document]:
    """The real client. No I/O happens here: AsyncMongoClient connects on first
    use (and resolves a mongodb+srv:// name then), so this cannot block."""
    return AsyncMongoClient(options.uri, **options.client_kwargs())


def new_client(options: MongoOptions, client_factory: ClientFactory) -> AsyncMongoClient[Document]:
    """The client, or ValueError naming the configuration without its secrets."""
    try:
        return client_factory(options)
    except (ConfigurationError, ValueError) as exc:  # pymongo raises both
        # Not chained, and scrubbed: pymongo's message may quote the URI.
        raise ValueError(
            f"invalid MongoDB configuration for {options.describe()}: "
            f"{redact(str(exc), options.uri)}"
        ) from None


class Preparation:
    """Work that must have succeeded once before any operation runs (creating
    indexes, discarding a crash's leftovers). start() launches it in the
    background, so opening an adapter never waits for MongoDB; every operation
    awaits wait(), which restarts the work if its last attempt failed.

    Concurrent callers share one attempt, so while MongoDB is down they all
    fail after one server selection timeout rather than one after another.
    """

    def __init__(self, work: Work, *, name: str) -> None:
        self._work = work
        self._name = name
        self._done = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        async def attempt() -> None:
            await self._work()
            self._done = True

        task = asyncio.get_running_loop().create_task(attempt(), name=self._name)
        # Retrieve the outcome even if nobody awaits it (open() does not), so a
        # failure that the next call retries is not reported as "never retrieved".
        task.add_done_callback(_consume)
        self._task = task
        return task

    async def wait(self) -> None:
        if self._done:
            return
        task = self._task
        if task is None or task.done():
            task = self.start()
        try:
            # shield: a caller that gives up (cancelled by its deadline) must not
            # cancel the attempt the other callers are waiting for.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # cancel() stopped the work (the adapter closed); this caller
                # was not cancelled itself.
                raise StorageUnavailable("MongoDB storage is not open") from None
            raise

    async def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # wait(), not await: the work's own cancellation is no error here,
            # and this caller's cancellation must still propagate.
            await asyncio.wait([task])


class Outages:
    """Translates MongoDB's failures into StorageUnavailable and logs the
    change of state: the first failure of an outage, and the recovery."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        # Last state seen, so an outage is logged once, not on every call.
        self._available: bool | None = None

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            if not is_storage_failure(exc):
                raise
            error = unavailable(exc)
            if self._available is not False:
                self._log.warning("%s", error)
            self._available = False
            raise error from exc

    def reached(self) -> None:
        """After a successful health check."""
        if self._available is False:
            self._log.info("MongoDB storage available again")
        self._available = True


class MongoConnection(Generic[H]):
    """One adapter's client and its life.

    open() builds the client (ValueError, scrubbed of secrets, for a bad
    configuration) and, through `attach`, the adapter's handles on it and the
    work to prepare the database, which it starts without waiting for MongoDB.
    Every operation runs inside translated() and first awaits ready(), which
    returns the handles once the preparation has succeeded. close() stops the
    preparation and the client.
    """

    def __init__(
        self,
        options: MongoOptions,
        client_factory: ClientFactory,
        *,
        attach: Callable[[AsyncMongoClient[Document]], tuple[H, Work]],
        log: logging.Logger,
        name: str,
    ) -> None:
        """`name`: the preparation task's."""
        self._options = options
        self._client_factory = client_factory
        self._attach = attach
        self._name = name
        self._lock = asyncio.Lock()
        self._client: AsyncMongoClient[Document] | None = None
        self._handles: H | None = None
        self._preparation: Preparation | None = None
        self._outages = Outages(log)

    async def open(self) -> None:
        async with self._lock:
            if self._client is not None:
                return
            client = new_client(self._options, self._client_factory)
            handles, work = self._attach(client)
            self._client, self._handles = client, handles
            self._preparation = Preparation(work, name=self._name)
            self._preparation.start()

    async def close(self) -> None:
        async with self._lock:
            client, preparation = self._client, self._preparation
            self._client = self._handles = self._preparation = None
            if preparation is not None:
                await preparation.cancel()
            if client is not None:
                await client.close()

    async def ready(self) -> H:
        """The handles, once the preparation has succeeded (restarting it if
        its last attempt failed); StorageUnavailable if not open."""
        handles, preparation = self._handles, self._preparation
        if handles is None or preparation is None:
            raise StorageUnavailable("MongoDB storage is not open")
        await preparation.wait()
        return handles

    def translated(self) -> contextlib.AbstractContextManager[None]:
        """MongoDB's failures as StorageUnavailable; see Outages."""
        return self._outages.translated()

    async def ping(self, probe: Callable[[H], Coroutine[Any, Any, object]]) -> None:
        """The health check: `probe` (a query that touches the adapter's
        collections, and so the credentials' privileges on them) once ready."""
        with self.translated():
            await probe(await self.ready())
        self._outages.reached()


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
