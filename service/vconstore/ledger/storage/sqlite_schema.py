"""The ledger's SQLite schema, as migration steps run by the vCon store's own
migration code (storage/sqlite/migrations.py) on the ledger's own file.

Steps are append-only: once released, a step is never edited; a change is a
new step. Nothing is ever deleted from these tables.
"""

from __future__ import annotations

from vconstore.storage.sqlite.migrations import Migration

__all__ = ["LEDGER_SCHEMA"]

_TABLES = Migration(
    version=1,
    description="leaves, nodes and signed heads of the Merkle log",
    statements=(
        # idx is the rowid itself. Column order matters: SQLite decodes a row's
        # columns in order, and reaching a column stored after a large value
        # means walking that value's overflow pages, so the statement is last.
        """CREATE TABLE leaves (
            idx           INTEGER PRIMARY KEY,
            leaf_hash     BLOB    NOT NULL UNIQUE,  -- SHA-256(0x00 || statement)
            vcon_uuid     TEXT    NOT NULL,         -- the statement's CWT sub
            operation     TEXT    NOT NULL,
            registered_at INTEGER NOT NULL,         -- microseconds since the epoch, UTC
            statement     BLOB    NOT NULL
        )""",
        # Every index ends with the rowid (idx), so this is (vcon_uuid, idx):
        # a vCon's leaves come out in index order, from any after_index.
        "CREATE INDEX leaves_by_vcon ON leaves (vcon_uuid)",
        # (level, idx) -> hash of the complete subtree over leaves
        # [idx * 2**level, (idx + 1) * 2**level). Measured against one integer
        # key (idx << 6 | level) at 1M leaves: same size within 3% and the same
        # proof lookup latency, so the port's own key is kept. Level-major order
        # keeps the upper levels, which every proof reads, in a few hot pages.
        """CREATE TABLE nodes (
            level INTEGER NOT NULL,
            idx   INTEGER NOT NULL,
            hash  BLOB    NOT NULL,
            PRIMARY KEY (level, idx)
        ) WITHOUT ROWID""",
        # One per appended batch; the largest size is the log's current size.
        """CREATE TABLE heads (
            size              INTEGER PRIMARY KEY,
            root              BLOB    NOT NULL,
            signed_at         INTEGER NOT NULL,  -- microseconds since the epoch, UTC
            receipt_protected BLOB    NOT NULL,
            receipt_signature BLOB    NOT NULL,
            checkpoint        TEXT    NOT NULL
        )""",
    ),
)

LEDGER_SCHEMA: tuple[Migration, ...] = (_TABLES,)
