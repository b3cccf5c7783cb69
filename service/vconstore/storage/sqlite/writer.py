"""Group commit: one thread owns the write connection and commits in batches.

Every write waiting when the thread comes round is applied in ONE transaction
and made durable by ONE fsync, then each caller is answered. While a commit is
syncing, new writes queue up and form the next batch, so the number of fsyncs
per second stays about constant while throughput grows with concurrency.

Each write runs inside its own SAVEPOINT: a write that fails on its own (a
domain error such as VconNotFound, a constraint) is rolled back alone and the
others in the batch still commit. A failure of the storage itself (disk full,
I/O error, corruption, lock timeout) fails the whole batch with
StorageUnavailable; nothing in it was committed, so every caller may retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from vconstore.domain.errors import StorageUnavailable

from .connections import (
    configure_writer,
    connect,
    is_storage_failure,
    unavailable,
)
from .handoff import Job, Settlement, settle
from .migrations import VCON_SCHEMA, Migration, migrate, refuse_newer

__all__ = ["GroupCommitWriter", "WriteStats"]

T = TypeVar("T")

_log = logging.getLogger(__name__)

# A checkpoint that scrubs erased rows from the WAL waits at most this long for
# readers, so an erasure never stalls the writes queued behind it; if readers
# are in the way it is retried after the next batch.
_SCRUB_BUSY_TIMEOUT_MS = 50


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Counters of committed batches; replaced as a whole, so a snapshot is consistent."""

    commits: int = 0
    operations: int = 0
    largest_batch: int = 0

    @property
    def average_batch(self) -> float:
        return self.operations / self.commits if self.commits else 0.0


@dataclass(frozen=True, slots=True)
class _Write:
    job: Job[Any]
    # Erases personal data: after its commit, scrub old page images from the WAL.
    erases: bool


_STOP: Final = object()


def _nothing(conn: sqlite3.Connection) -> None:
    return None


class GroupCommitWriter:
    def __init__(
        self,
        path: Path,
        *,
        max_batch: int,
        max_bytes: int | None,
        lock_timeout_ms: int,
        schema: Sequence[Migration] = VCON_SCHEMA,
        thread_name: str = "vconstore-sqlite-writer",
    ) -> None:
        """`schema`: the migration steps run at start(), before any write."""
        self._path = path
        self._schema = tuple(schema)
        self._thread_name = thread_name
        self._lock_timeout_ms = lock_timeout_ms
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._queue: queue.SimpleQueue[_Write | object] = queue.SimpleQueue()
        # Makes "check open, then enqueue" atomic against stop(), so no write can
        # slip in behind the stop marker and wait forever.
        self._lock = threading.Lock()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self._scrub_pending = False
        self.stats = WriteStats()

    @property
    def alive(self) -> bool:
        return self._accepting and self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        """Open the write connection and migrate the schema, on the writer thread."""
        ready = Job.for_running_loop(_nothing)
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name=self._thread_name, daemon=True
        )
        self._thread.start()
        try:
            await ready.future
        except BaseException:
            await _join(self._thread)
            self._thread = None
            raise

    async def stop(self) -> None:
        """Commit what is queued, then close the connection."""
        with self._lock:
            if not self._accepting:
                return
            self._accepting = False
            self._queue.put(_STOP)
        if self._thread is not None:
            await _join(self._thread)
            self._thread = None

    async def submit(self, work: Callable[[sqlite3.Connection], T], *, erases: bool = False) -> T:
        """Run `work` in the next batch; return its result once that batch is committed.

        If the caller is cancelled meanwhile, the write still happens.
        """
        job = Job.for_running_loop(work)
        with self._lock:
            if not self._accepting:
                raise StorageUnavailable("SQLite storage is not open")
            self._queue.put(_Write(job, erases))
        return await job.future

    # --- on the writer thread -------------------------------------------------

    def _main(self, ready: Job[None]) -> None:
        try:
            conn = connect(self._path, lock_timeout_ms=self._lock_timeout_ms)
        except Exception as exc:
            settle([Settlement(ready, error=_as_storage_error(exc))])
            return
        try:
            try:
                refuse_newer(conn, self._schema)
                configure_writer(conn, max_bytes=self._max_bytes)
                migrate(conn, self._schema)
            except Exception as exc:
                settle([Settlement(ready, error=_as_storage_error(exc))])
                return
            # Set here, not in start(): if this thread ended early, start() must not
            # open the door after _reject_queued() has closed it.
            with self._lock:
                self._accepting = True
            settle([Settlement(ready)])
            self._serve(conn)
            # Lets the query planner gather statistics for the indexes it used.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
        finally:
            conn.close()
            self._reject_queued()

    def _reject_queued(self) -> None:
        """If this thread ends for any reason, nobody may wait for it forever."""
        with self._lock:
            self._accepting = False
        leftovers: list[Settlement] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Write):
                error = StorageUnavailable("SQLite writer stopped")
                leftovers.append(Settlement(item.job, error=error))
        settle(leftovers)

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[_Write] = [_as_write(item)]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(_as_write(item))
            self._commit(conn, batch)
            if stopping:
                return

    def _commit(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            settlements = [_apply(conn, write.job) for write in batch]
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback_quietly(conn)
            if isinstance(exc, sqlite3.Error):
                # SQLite's messages name error conditions, never bound values.
                _log.error("SQLite batch of %d writes failed: %r", len(batch), exc)
            else:
                _log.exception("SQLite batch of %d writes failed", len(batch))
            # One exception object per caller: each await adds its own traceback to it.
            settle(Settlement(write.job, error=_as_storage_error(exc)) for write in batch)
            return
        stats = self.stats
        self.stats = WriteStats(
            commits=stats.commits + 1,
            operations=stats.operations + len(batch),
            largest_batch=max(stats.largest_batch, len(batch)),
        )
        # Scrub before answering, so that a delete that returned has, unless readers
        # were in the way (then it is retried after later batches), left the files.
        self._scrub_pending = self._scrub_pending or any(write.erases for write in batch)
        if self._scrub_pending:
            self._scrub_pending = not _scrub_wal(conn, self._lock_timeout_ms)
        settle(settlements)


def _apply(conn: sqlite3.Connection, job: Job[Any]) -> Settlement:
    conn.execute("SAVEPOINT write")
    try:
        result = job.work(conn)
    except Exception as exc:
        if isinstance(exc, sqlite3.Error) and is_storage_failure(exc):
            raise  # the storage failed, not this write: fail the batch
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        return Settlement(job, error=exc)
    conn.execute("RELEASE write")
    return Settlement(job, result=result)


def _scrub_wal(conn: sqlite3.Connection, lock_timeout_ms: int) -> bool:
    """Checkpoint and truncate the WAL, so page images holding erased rows leave
    the files (secure_delete has zeroed them in the new images). Best effort:
    returns whether it completed; readers still using the WAL make it retry later."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {_SCRUB_BUSY_TIMEOUT_MS}")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
    except sqlite3.Error as exc:
        _log.warning("WAL checkpoint after erasure failed: %s", type(exc).__name__)
        return False
    return bool(busy == 0)


def _as_write(item: object) -> _Write:
    assert isinstance(item, _Write)
    return item


def _as_storage_error(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error):
        return unavailable(exc)
    return exc


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            _log.warning("SQLite ROLLBACK failed", exc_info=True)


async def _join(thread: threading.Thread) -> None:
    # join() blocks; the writer may still be committing its last batch.
    await asyncio.to_thread(thread.join)
