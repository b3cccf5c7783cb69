"""Opening SQLite connections with the settings durability depends on, and
telling storage failures apart from programming errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vconstore.domain.errors import StorageUnavailable

__all__ = ["configure_writer", "connect", "is_storage_failure", "open_reader", "unavailable"]


def connect(path: Path, *, lock_timeout_ms: int) -> sqlite3.Connection:
    """`lock_timeout_ms`: how long to wait for a lock held by another connection
    (a checkpoint, another process) before failing with SQLITE_BUSY."""
    # isolation_level=None: autocommit, so every transaction is an explicit
    # BEGIN/COMMIT we control (the legacy implicit transactions of sqlite3 would
    # open one behind our back). Each connection stays on the thread that opened it.
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=64)
    conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
    return conn


def configure_writer(conn: sqlite3.Connection, *, max_bytes: int | None = None) -> None:
    """Settings of the one connection that writes.

    WAL lets readers run beside the writer; synchronous=FULL makes every COMMIT
    fsync the WAL, so a commit that returned survives power loss (NORMAL would
    not sync the WAL on commit). secure_delete overwrites the bytes of deleted
    rows, because an erased vCon is personal data and must not linger in free pages.
    """
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    # After a checkpoint, shrink the WAL back instead of keeping its high-water size.
    conn.execute("PRAGMA journal_size_limit = 67108864")
    if max_bytes is not None:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        # SQLite reports SQLITE_FULL beyond this, exactly as for a full disk.
        conn.execute(f"PRAGMA max_page_count = {max(1, int(max_bytes) // page_size)}")


def open_reader(path: Path, *, lock_timeout_ms: int) -> sqlite3.Connection:
    conn = connect(path, lock_timeout_ms=lock_timeout_ms)
    # A reader that tried to write would take the write lock from the writer thread.
    conn.execute("PRAGMA query_only = ON")
    return conn


def is_storage_failure(exc: BaseException) -> bool:
    """Whether the backend failed (full, locked, I/O, corrupt, cannot open),
    as opposed to this code misusing it (constraint, binding, API misuse)."""
    return isinstance(exc, sqlite3.OperationalError | sqlite3.InternalError) or (
        # SQLITE_CORRUPT and SQLITE_NOTADB raise the base class itself.
        type(exc) is sqlite3.DatabaseError
    )


def unavailable(exc: sqlite3.Error) -> StorageUnavailable:
    """A StorageUnavailable naming only the SQLite error code: the message must not
    carry vCon content, and error codes never do."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StorageUnavailable(f"SQLite storage unavailable ({name})")
