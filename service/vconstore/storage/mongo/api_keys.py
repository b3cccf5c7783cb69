"""API keys in MongoDB: one document per key in the collection
`<collection>_api_keys` (`vcons_api_keys` by default), beside the vCons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, IndexModel, UpdateOne

from vconstore.ports import ApiKeyRecord, Cursor
from vconstore.storage.normalise import from_micros, to_micros

from .lifecycle import Document

__all__ = [
    "KEY_INDEXES",
    "collection_name",
    "key_document",
    "key_from",
    "list_query",
    "revoke_update",
    "touch_updates",
]

BY_HASH: Final = "key_hash"
BY_PREFIX: Final = "prefix"
BY_ORG: Final = "org_created_id"

KEY_INDEXES: Final = (
    # The same key can never be stored twice (nor under two organisations).
    IndexModel([("key_hash", ASCENDING)], name=BY_HASH, unique=True),
    # How a call finds its key: one index range, rarely more than one document.
    IndexModel([("prefix", ASCENDING)], name=BY_PREFIX),
    IndexModel([("org", ASCENDING), ("created_us", ASCENDING), ("_id", ASCENDING)], name=BY_ORG),
)


def collection_name(vcons_collection: str) -> str:
    return f"{vcons_collection}_api_keys"


def key_document(record: ApiKeyRecord) -> Document:
    document: Document = {
        "_id": record.id,
        "org": record.org,
        "name": record.name,
        "prefix": record.prefix,
        "key_hash": record.key_hash,
        "scopes": list(record.scopes),
        "created_us": to_micros(record.created_at),
    }
    # Absent rather than null: $max and $exists then read naturally.
    if record.last_used_at is not None:
        document["last_used_us"] = to_micros(record.last_used_at)
    if record.revoked_at is not None:
        document["revoked_us"] = to_micros(record.revoked_at)
    return document


def key_from(document: Document) -> ApiKeyRecord:
    last_used, revoked = document.get("last_used_us"), document.get("revoked_us")
    return ApiKeyRecord(
        id=document["_id"],
        org=document["org"],
        name=document["name"],
        prefix=document["prefix"],
        key_hash=bytes(document["key_hash"]),
        scopes=tuple(document["scopes"]),
        created_at=from_micros(document["created_us"]),
        last_used_at=None if last_used is None else from_micros(last_used),
        revoked_at=None if revoked is None else from_micros(revoked),
    )


def list_query(org: str, after: Cursor | None) -> dict[str, Any]:
    if after is None:
        return {"org": org}
    micros = to_micros(after.created_at)
    return {
        "org": org,
        "$or": [
            {"created_us": {"$gt": micros}},
            {"created_us": micros, "_id": {"$gt": after.uuid}},
        ],
    }


LIST_SORT: Final = [("created_us", ASCENDING), ("_id", ASCENDING)]


def revoke_update(at: datetime) -> Document:
    # $min: a key revoked twice keeps its first revocation time.
    return {"$min": {"revoked_us": to_micros(at)}}


def touch_updates(used: Sequence[tuple[str, datetime]]) -> list[UpdateOne]:
    # $max: last_used_us only moves forward, whichever replica writes last.
    return [
        UpdateOne({"_id": key_id}, {"$max": {"last_used_us": to_micros(at)}}) for key_id, at in used
    ]
