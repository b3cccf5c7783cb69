"""The collection's indexes, created idempotently (createIndexes with the same
names and keys is a no-op on a collection that has them).

Every list query starts with an equality on `org` and sorts by
(created_us, uuid) descending, so each index is org, then the filter's key,
then the sort: the page comes out of the index in order, and `limit` stops the
scan early instead of sorting every match in memory. The key filters are
arrays, hence multikey indexes; created_us and uuid are scalars, which is what
lets a multikey index still serve the sort. Tombstones (no created_us) fall
outside every list query's bounds on these indexes (see queries.py).

The ledger outbox has one index of its own, on the pending entry ids: sparse,
so documents that never had an entry are not in it, and a pending entry is
found by an index range instead of by reading every vCon.
"""

from __future__ import annotations

from typing import Final

from pymongo import ASCENDING, DESCENDING, IndexModel

from .documents import F

__all__ = [
    "BY_CREATED",
    "BY_MAILTO",
    "BY_TAG",
    "BY_TAG_KEY",
    "BY_TEL",
    "INDEXES",
    "ORG_UUID",
    "PENDING",
]

ORG_UUID: Final = "org_uuid"
BY_CREATED: Final = "org_created_uuid"
BY_TEL: Final = "org_tel_created_uuid"
BY_MAILTO: Final = "org_mailto_created_uuid"
BY_TAG: Final = "org_tag_created_uuid"
BY_TAG_KEY: Final = "org_tag_key_created_uuid"
PENDING: Final = "scitt_pending"
BY_PARENT: Final = "org_lineage_parent_created_uuid"

_NEWEST_FIRST: Final = [(F.CREATED_US, DESCENDING), (F.UUID, DESCENDING)]


def _by(field: str, name: str) -> IndexModel:
    return IndexModel([(F.ORG, ASCENDING), (field, ASCENDING), *_NEWEST_FIRST], name=name)


INDEXES: Final = (
    # The key: a duplicate-key error on insert is how a concurrent create of
    # the same uuid is detected. get() and delete() use it too.
    IndexModel([(F.ORG, ASCENDING), (F.UUID, ASCENDING)], name=ORG_UUID, unique=True),
    # Keyset pagination, and the scan that substring filters (name, subject)
    # and date ranges run on: substrings cannot use a b-tree.
    IndexModel([(F.ORG, ASCENDING), *_NEWEST_FIRST], name=BY_CREATED),
    _by(F.TELS, BY_TEL),
    _by(F.MAILTOS, BY_MAILTO),
    _by(F.TAGS, BY_TAG),
    _by(F.TAG_KEYS, BY_TAG_KEY),
    # Entries awaiting their receipt, across organisations: what the registrar
    # recovers after a restart or an outage of the ledger.
    IndexModel([(F.SCITT_PENDING, ASCENDING)], name=PENDING, sparse=True),
    # A vCon's derivatives (redactions), newest first.
    IndexModel(
        [(F.ORG, ASCENDING), (f"{F.LINEAGE}.parent", ASCENDING), *_NEWEST_FIRST], name=BY_PARENT
    ),
)
