"""The SQLite schema as numbered migration steps, applied at open().

The schema version lives in `PRAGMA user_version` (0 for a new file). Steps are
append-only: once released, a step is never edited; a change is a new step.
Pending steps run in one transaction, together with the version bump, so a file
is either at its old version or fully at the newest, never in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from vconstore.domain.errors import StorageUnavailable

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "VCON_SCHEMA",
    "Migration",
    "SchemaTooNew",
    "migrate",
    "refuse_newer",
    "schema_version",
]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    # One statement per entry: sqlite3's executescript() would COMMIT first and
    # break the single transaction.
    statements: tuple[str, ...]


class SchemaTooNew(StorageUnavailable):
    """The file was written by a newer vconstore; opening it could corrupt it."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"SQLite database schema version {found} is newer than this vconstore "
            f"supports ({supported}); upgrade vconstore to open it"
        )


# Search keys live in ONE table, vcon_keys (kind, value), WITHOUT ROWID with the
# key first, so each filter is one index range and an insert adds one b-tree
# entry per key. (A first design had a table per kind, each with a foreign key
# and an index by uuid for erasure: that was ~3x the write cost per vCon,
# measured with bench/bench_vcon_service.py.) Erasure finds a vCon's keys
# through the vcons row's `search_keys` list instead of a second index.
# No release has shipped schema versions 1-2 in their earlier form, so they
# were redefined rather than migrated.
_TABLES = Migration(
    version=1,
    description="vcons and their search keys",
    statements=(
        # Column order matters: SQLite decodes a row's columns in order, and reaching
        # a column stored after a large value means walking that value's overflow
        # pages. So everything list() filters on or returns comes before the big
        # documents, and vcon_json (the largest) is last.
        """CREATE TABLE vcons (
            org              TEXT    NOT NULL,
            uuid             TEXT    NOT NULL,
            created_at       INTEGER NOT NULL,  -- microseconds since the epoch, UTC
            received_at      INTEGER NOT NULL,  -- microseconds since the epoch, UTC
            detected_version TEXT    NOT NULL,
            signed           INTEGER NOT NULL CHECK (signed IN (0, 1)),
            content_hash     TEXT    NOT NULL,
            subject          TEXT,
            subject_folded   TEXT,              -- casefold(subject), for substring search
            names_folded     TEXT    NOT NULL,  -- casefolded party names, U+001F between
            search_keys      TEXT    NOT NULL,  -- JSON [[kind, value], ...] in vcon_keys
            parties_pb       BLOB    NOT NULL,
            typed_pb         BLOB    NOT NULL,
            vcon_json        TEXT    NOT NULL,
            PRIMARY KEY (org, uuid)
        )""",
        # kind: tel, mailto, tag, tag_key (see queries.KEY_KINDS).
        """CREATE TABLE vcon_keys (
            org   TEXT NOT NULL,
            kind  TEXT NOT NULL,
            value TEXT NOT NULL,
            uuid  TEXT NOT NULL,
            PRIMARY KEY (org, kind, value, uuid)
        ) WITHOUT ROWID""",
    ),
)

_LIST_INDEXES = Migration(
    version=2,
    description="the keyset index for ListVcons",
    statements=(
        # Keyset pagination: newest first within one organisation. subject_folded
        # and names_folded ride along so substring searches (scans: substrings
        # cannot use a b-tree) and their counts read this small index instead of
        # rows of several KB.
        "CREATE INDEX vcons_by_created ON vcons"
        " (org, created_at DESC, uuid DESC, subject_folded, names_folded)",
    ),
)

_SCITT_ENTRIES = Migration(
    version=3,
    description="ledger entries: the outbox of signed statements and their receipts",
    statements=(
        # One row per operation on a vCon, written in the operation's own
        # transaction. Keyed by the vCon and the entry's 0-based position in
        # its history, so it outlives the vCon (a deletion adds a row) and
        # ListScittEntries is one range of the key. No content: statements
        # hold hashes, uuids and a pseudonym only.
        """CREATE TABLE scitt_entries (
            org        TEXT    NOT NULL,
            uuid       TEXT    NOT NULL,
            position   INTEGER NOT NULL,
            entry_id   TEXT    NOT NULL,  -- "sha256:" + hex leaf hash of statement
            operation  TEXT    NOT NULL,
            created_at INTEGER NOT NULL,  -- the statement's issued_at, microseconds UTC
            statement  BLOB    NOT NULL,
            receipt    BLOB,              -- NULL while the registration is pending
            PRIMARY KEY (org, uuid, position)
        ) WITHOUT ROWID""",
        # The registrar's queue: only pending rows are in it, so it stays as
        # small as the backlog, and finding work is one index range.
        "CREATE INDEX scitt_pending ON scitt_entries (created_at) WHERE receipt IS NULL",
    ),
)

_API_KEYS = Migration(
    version=4,
    description="the organisations' API keys",
    statements=(
        # Only the key's SHA-256 is kept. A call finds its key by the public
        # prefix (an index range of one row, rarely more), then compares the
        # hashes in constant time. vCons stored before this step carry the
        # organisation `dev`, which `vconstore up` gives its development key.
        """CREATE TABLE api_keys (
            id           TEXT    NOT NULL PRIMARY KEY,
            org          TEXT    NOT NULL,
            name         TEXT    NOT NULL,
            prefix       TEXT    NOT NULL,
            key_hash     BLOB    NOT NULL UNIQUE,
            scopes       TEXT    NOT NULL,  -- comma-separated, auth.scopes order
            created_at   INTEGER NOT NULL,  -- microseconds since the epoch, UTC
            last_used_at INTEGER,
            revoked_at   INTEGER
        ) WITHOUT ROWID""",
        "CREATE INDEX api_keys_by_prefix ON api_keys (prefix)",
        "CREATE INDEX api_keys_by_org ON api_keys (org, created_at, id)",
    ),
)

_LINEAGE = Migration(
    version=5,
    description="redaction lineage: each redacted vCon's parent",
    statements=(
        # One row per live redacted vCon (deleted with it): the child's own
        # row answers "who is my parent", the index "who are my derivatives".
        """CREATE TABLE vcon_lineage (
            org         TEXT    NOT NULL,
            child_uuid  TEXT    NOT NULL,
            parent_uuid TEXT    NOT NULL,
            type        TEXT    NOT NULL,
            created_at  INTEGER NOT NULL,  -- the child's, microseconds UTC
            PRIMARY KEY (org, child_uuid)
        ) WITHOUT ROWID""",
        "CREATE INDEX vcon_lineage_by_parent"
        " ON vcon_lineage (org, parent_uuid, created_at DESC, child_uuid DESC)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    _TABLES,
    _LIST_INDEXES,
    _SCITT_ENTRIES,
    _API_KEYS,
    _LINEAGE,
)
LATEST_VERSION = MIGRATIONS[-1].version
# The vCon store's schema. Other components (the ledger) keep their own file with
# their own steps, run by the same code.
VCON_SCHEMA: tuple[Migration, ...] = MIGRATIONS


def schema_version(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert isinstance(version, int)
    return version


def refuse_newer(conn: sqlite3.Connection, migrations: Sequence[Migration] = VCON_SCHEMA) -> None:
    """Raise SchemaTooNew before anything (even the journal mode) is changed in the file."""
    found = schema_version(conn)
    latest = migrations[-1].version
    if found > latest:
        raise SchemaTooNew(found, latest)


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration] = VCON_SCHEMA,
    *,
    target: int | None = None,
) -> int:
    """Bring the file to `target`, by default the newest step of `migrations`
    (tests use an older target to build old files).

    `conn` must be in autocommit mode (isolation_level=None). Returns the
    version found before migrating. BEGIN IMMEDIATE takes the write lock before
    the version is read, so two processes opening one new file cannot both
    apply the same steps.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        refuse_newer(conn, migrations)
        found = schema_version(conn)
        last = migrations[-1].version if target is None else target
        for step in migrations:
            if found < step.version <= last:
                for statement in step.statements:
                    conn.execute(statement)
                # PRAGMA values cannot be bound parameters; version is an int we own.
                conn.execute(f"PRAGMA user_version = {int(step.version)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
