"""The ledger-entry outbox on MongoDB: the queries and updates that keep a
vCon's entries in its own document (fields `scitt` and `scitt_pending`, see
documents.py). Pure functions, no I/O, like queries.py.

Every write that adds an entry is the same single-document write as its
operation, so an acknowledged operation always has its entry:

* a create: insert_one of the document holding [entry] (`new_ledger`), or,
  over a tombstone, one update that revives it and appends the entry
  (`revive`);
* a deletion: one update that erases the content, marks the document a
  tombstone and appends the entry (`tombstone`), conditional on the content
  hash the entry's statement covers;
* a receipt: one update per entry that stores it where none is stored yet and
  takes the id off the pending list (`receipt_updates`, one bulk_write).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pymongo import UpdateOne

from vconstore.ports import Receipt

from .documents import CONTENT_FIELDS, E, F
from .indexes import PENDING
from .queries import NOT_TOMBSTONE, live

__all__ = [
    "COUNT_PENDING",
    "PENDING_HINT",
    "entries_page",
    "erasable",
    "new_ledger",
    "pending_pipeline",
    "receipt_updates",
    "removable",
    "revive",
    "tombstone",
    "tombstoned",
    "with_entries",
]

# $slice takes 32-bit integers; no document (16 MiB) holds that many entries.
_MAX_SLICE: Final = 2**31 - 1

# Documents with a pending entry: a range over the sparse `scitt_pending`
# index (entry ids are non-empty strings), not a scan of every vCon.
_HAS_PENDING: Final = {F.SCITT_PENDING: {"$gt": ""}}
PENDING_HINT: Final = PENDING

# How many entries await their receipt: documents normally hold a few at most.
COUNT_PENDING: Final[list[dict[str, Any]]] = [
    {"$match": _HAS_PENDING},
    {"$group": {"_id": None, "n": {"$sum": {"$size": f"${F.SCITT_PENDING}"}}}},
]


def _pending(entry: dict[str, Any]) -> bool:
    return entry[E.RECEIPT] is None


def new_ledger(entry: dict[str, Any]) -> dict[str, Any]:
    """The ledger fields of a document created with `entry` (an entry_document)."""
    return {
        F.SCITT: [entry],
        F.SCITT_PENDING: [entry[E.ENTRY_ID]] if _pending(entry) else [],
    }


def _append(entry: dict[str, Any]) -> dict[str, Any]:
    push: dict[str, Any] = {F.SCITT: entry}
    if _pending(entry):
        push[F.SCITT_PENDING] = entry[E.ENTRY_ID]
    return push


def appended(entry: dict[str, Any]) -> dict[str, Any]:
    """Add `entry` to a document's history (a redaction's, to its parent's)."""
    return {"$push": _append(entry)}


def tombstoned(org: str, uuid: str) -> dict[str, Any]:
    """The tombstone of (org, uuid), if that is what its document is."""
    return {F.ORG: org, F.UUID: uuid, F.TOMBSTONE: True}


def removable(org: str, uuid: str) -> dict[str, Any]:
    """The live vCon (org, uuid) if it has no entries: a deletion without an
    entry removes it outright, as there is no history to keep."""
    return {**live(org, uuid), f"{F.SCITT}.0": {"$exists": False}}


def erasable(document_id: Any, content_hash: str) -> dict[str, Any]:
    """The live document read for a deletion, if it still holds the content
    whose hash the deletion's statement covers."""
    return {"_id": document_id, F.CONTENT_HASH: content_hash, **NOT_TOMBSTONE}


def tombstone(entry: dict[str, Any] | None) -> dict[str, Any]:
    """Erase a live document's content, keeping its key and entries, plus
    `entry` (the deletion's) if given. Apply it with a filter that excludes
    tombstones and pins the content hash the entry covers."""
    update: dict[str, Any] = {
        "$unset": dict.fromkeys(CONTENT_FIELDS, ""),
        "$set": {F.TOMBSTONE: True},
    }
    if entry is not None:
        update["$push"] = _append(entry)
    return update


def revive(document: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    """Make a tombstone the live `document` (a to_document result, without
    ledger fields) again, its history going on with `entry` if given. The
    tombstone keeps its _id; apply it with the filter `tombstoned`."""
    update: dict[str, Any] = {
        "$set": {
            name: value
            for name, value in document.items()
            if name not in ("_id", F.ORG, F.UUID, F.SCITT, F.SCITT_PENDING, F.TOMBSTONE)
        },
        "$unset": {F.TOMBSTONE: ""},
    }
    if entry is not None:
        update["$push"] = _append(entry)
    return update


def with_entries(org: str, uuid: str) -> dict[str, Any]:
    """The document of (org, uuid), live or tombstone, if it has any entry."""
    return {F.ORG: org, F.UUID: uuid, f"{F.SCITT}.0": {"$exists": True}}


def entries_page(after: int | None, fetch: int) -> dict[str, Any]:
    """The projection of `fetch` entries from position `after` + 1 (0-based),
    and nothing else of the document (the uuid only makes it an inclusion)."""
    start = 0 if after is None else max(after + 1, 0)
    return {
        "_id": 0,
        F.UUID: 1,
        F.SCITT: {"$slice": [min(start, _MAX_SLICE), min(fetch, _MAX_SLICE)]},
    }


def pending_pipeline(limit: int) -> list[dict[str, Any]]:
    """Entries without a receipt, oldest first across every document, at most
    `limit`: found through the pending index, then one top-`limit` sort (the
    server keeps only `limit` entries while sorting). Each output document is
    {_id, org, uuid, position, scitt: <one entry>}. Ties in created_us are
    broken by document (_id), then by position in the document."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return [
        {"$match": _HAS_PENDING},
        {"$project": {"_id": 1, F.ORG: 1, F.UUID: 1, F.SCITT: 1}},
        {"$unwind": {"path": f"${F.SCITT}", "includeArrayIndex": "position"}},
        {"$match": {f"{F.SCITT}.{E.RECEIPT}": None}},
        {"$sort": {f"{F.SCITT}.{E.CREATED_US}": 1, "_id": 1, "position": 1}},
        {"$limit": limit},
    ]


def receipt_updates(receipts: Sequence[Receipt]) -> list[UpdateOne]:
    """One update per receipt, for bulk_write: stores it only where the entry
    has none yet (a stored receipt is never replaced) and ends its pending
    state; an entry that is not there (unknown, or already receipted) matches
    nothing and so is skipped."""
    return [
        UpdateOne(
            {
                F.ORG: item.org,
                F.UUID: item.uuid,
                F.SCITT: {"$elemMatch": {E.ENTRY_ID: item.entry_id, E.RECEIPT: None}},
            },
            {
                # `$`: the element the $elemMatch matched.
                "$set": {f"{F.SCITT}.$.{E.RECEIPT}": bytes(item.receipt)},
                "$pull": {F.SCITT_PENDING: item.entry_id},
            },
        )
        for item in receipts
    ]
