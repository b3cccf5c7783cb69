"""The stored document: one per vCon, and how port records map to and from it.

Layout (field names are the F.* constants below):

    _id               ObjectId, assigned here (so the size check is exact)
    org, uuid         the key; unique together (index `org_uuid`)
    created_us        int64 microseconds since the epoch, UTC: ordering and cursor
    created_at        BSON date (milliseconds) of the same instant, for people and tools
    received_us, received_at    likewise for the time the service received it
    detected_version, signed, content_hash
    subject           as extracted; subject_folded = casefold(subject) for search
    names_folded      casefolded party names (array)
    party_tels, party_mailtos, tags, tag_keys     normalised keys (arrays, deduplicated)
    parties_pb, typed_pb    serialised vcon.v1 messages (BSON binary)
    vcon_json         the accepted text exactly, as a string
    lineage           {parent, type} of a redaction (its `redacted` vCon), else null
    ledger            null: a slot kept from format 1 (the ledger entries are `scitt`)
    format            version of this layout, for later migrations
    scitt             the (org, uuid)'s ledger entries, oldest first (absent if none):
                      {entry_id, operation, statement (binary), created_us (int64
                      micros, UTC), receipt (binary, null until registered)}
    scitt_pending     entry_ids of `scitt` still without a receipt (absent or empty
                      when none is); sparse multikey index `scitt_pending`
    tombstone         true on a deleted vCon's document (absent on a live one)

A ledger entry is written by the same single-document write as its operation
(the outbox): insert_one for a create, a conditional update for the rest.
Entries outlive the vCon: deleting one with entries turns its document into a
content-free TOMBSTONE in one update, which unsets every content field (every
field but org, uuid, format and the ledger fields: CONTENT_FIELDS) and keeps
the entries, the deletion's own appended. A create of the same uuid turns the
tombstone back into a live document, its history going on.

A tombstone has no created_us, and every list query bounds created_us to a
numeric range, so tombstones lie outside the index bounds of every list index
and never show in a page or a total; get and exists filter them out
explicitly (see queries.py).

The vCon JSON is kept as a string, never as a BSON sub-document: MongoDB
restricts member names (a leading `$`, dots), and a sub-document would not keep
the exact text (number spellings, escapes, whitespace, integers beyond int64)
that the content hash and a JWS signature cover and that reads serve as is.

BSON dates have millisecond precision while the port's instants have
microseconds, so ordering and the keyset cursor use the exact integer field
and the dates are only there to be read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import bson
from bson import ObjectId

from vconstore.domain.errors import LimitExceeded, Violation
from vconstore.ports import (
    ExistingVcon,
    ScittEntry,
    StoredVcon,
    VconListItem,
    VconRecord,
    create_entry_of,
)
from vconstore.storage.normalise import fold, from_micros, tag_key, to_micros, utc

__all__ = [
    "CONTENT_FIELDS",
    "DELETE_PROJECTION",
    "DOCUMENT_FORMAT",
    "EXISTING_PROJECTION",
    "LIST_PROJECTION",
    "MAX_DOCUMENT_BYTES",
    "STORED_PROJECTION",
    "E",
    "F",
    "check_size",
    "entry_document",
    "entry_from",
    "existing_from",
    "has_entries",
    "list_item_from",
    "needs_history",
    "stored_from",
    "to_document",
]

# Still 1 with the ledger fields and tombstones: they are additive. A format-1
# document without `scitt` reads as a vCon stored without entries, which it
# is, so nothing needs migrating. (A release that predates tombstones must not
# serve a collection holding them: its queries do not leave them out.)
DOCUMENT_FORMAT: Final = 1
# MongoDB's maxBsonObjectSize (16 MiB), unchanged since 1.8. The driver would
# refuse a larger document too, but only after encoding it, and with an error
# the API layer could not tell from a storage failure.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
DOCUMENT_LIMIT_NAME: Final = "mongodb_document_bytes"


class F:
    """Field names, so queries, indexes and documents cannot drift apart."""

    ORG: Final = "org"
    UUID: Final = "uuid"
    CREATED_US: Final = "created_us"
    CREATED_AT: Final = "created_at"
    RECEIVED_US: Final = "received_us"
    RECEIVED_AT: Final = "received_at"
    DETECTED_VERSION: Final = "detected_version"
    SIGNED: Final = "signed"
    CONTENT_HASH: Final = "content_hash"
    SUBJECT: Final = "subject"
    SUBJECT_FOLDED: Final = "subject_folded"
    NAMES_FOLDED: Final = "names_folded"
    TELS: Final = "party_tels"
    MAILTOS: Final = "party_mailtos"
    TAGS: Final = "tags"
    TAG_KEYS: Final = "tag_keys"
    PARTIES_PB: Final = "parties_pb"
    TYPED_PB: Final = "typed_pb"
    VCON_JSON: Final = "vcon_json"
    LINEAGE: Final = "lineage"
    LEDGER: Final = "ledger"
    FORMAT: Final = "format"
    SCITT: Final = "scitt"
    SCITT_PENDING: Final = "scitt_pending"
    TOMBSTONE: Final = "tombstone"


class E:
    """Field names of one ledger entry in the `scitt` array."""

    ENTRY_ID: Final = "entry_id"
    OPERATION: Final = "operation"
    STATEMENT: Final = "statement"
    CREATED_US: Final = "created_us"
    RECEIPT: Final = "receipt"


# What a tombstone keeps: the key, the layout version, the ledger fields and
# its marker. Everything else F names is content and is unset on deletion, so
# a field added to F later is erased by default.
_KEPT_BY_TOMBSTONE: Final = frozenset(
    {F.ORG, F.UUID, F.FORMAT, F.SCITT, F.SCITT_PENDING, F.TOMBSTONE}
)
CONTENT_FIELDS: Final = tuple(
    value
    for name, value in vars(F).items()
    if name.isupper() and isinstance(value, str) and value not in _KEPT_BY_TOMBSTONE
)


def _unique(values: tuple[str, ...] | list[str]) -> list[str]:
    # Each value once per document: a multikey index holds one entry per value.
    return list(dict.fromkeys(values))


def to_document(record: VconRecord) -> dict[str, Any]:
    """Raises ValueError for a naive datetime (as every adapter does)."""
    created_at = utc(record.created_at)
    received_at = utc(record.received_at)
    return {
        "_id": ObjectId(),
        F.ORG: record.org,
        F.UUID: record.uuid,
        F.CREATED_US: to_micros(created_at),
        F.CREATED_AT: created_at,
        F.RECEIVED_US: to_micros(received_at),
        F.RECEIVED_AT: received_at,
        F.DETECTED_VERSION: record.detected_version,
        F.SIGNED: bool(record.signed),
        F.CONTENT_HASH: record.content_hash,
        F.SUBJECT: record.subject,
        F.SUBJECT_FOLDED: None if record.subject is None else fold(record.subject),
        F.NAMES_FOLDED: _unique([fold(name) for name in record.party_names]),
        F.TELS: _unique(record.party_tels),
        F.MAILTOS: _unique(record.party_mailtos),
        F.TAGS: _unique(record.tags),
        F.TAG_KEYS: _unique([tag_key(tag) for tag in record.tags]),
        # bytes, not memoryview or bytearray: BSON binary subtype 0 reads back as bytes.
        F.PARTIES_PB: bytes(record.parties_pb),
        F.TYPED_PB: bytes(record.typed_pb),
        F.VCON_JSON: record.vcon_json,
        F.LINEAGE: None
        if record.lineage is None
        else {"parent": record.lineage.parent_uuid, "type": record.lineage.type},
        F.LEDGER: None,
        F.FORMAT: DOCUMENT_FORMAT,
    }


def entry_document(entry: ScittEntry) -> dict[str, Any]:
    """Raises ValueError for a naive created_at."""
    return {
        E.ENTRY_ID: entry.entry_id,
        E.OPERATION: entry.operation,
        E.STATEMENT: bytes(entry.statement),
        E.CREATED_US: to_micros(entry.created_at),
        E.RECEIPT: None if entry.receipt is None else bytes(entry.receipt),
    }


def entry_from(document: dict[str, Any]) -> ScittEntry:
    receipt = document.get(E.RECEIPT)
    return ScittEntry(
        entry_id=document[E.ENTRY_ID],
        operation=document[E.OPERATION],
        statement=bytes(document[E.STATEMENT]),
        created_at=from_micros(int(document[E.CREATED_US])),
        receipt=None if receipt is None else bytes(receipt),
    )


def check_size(document: dict[str, Any], *, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuse a document MongoDB would refuse, naming the limit.

    The stored document holds the JSON text and its typed protobuf form, so it
    is roughly twice the vCon's JSON size. Encoding is exact and cheap (a few
    microseconds for a typical vCon of tens of KB).
    """
    size = len(bson.encode(document))
    if size > limit:
        raise LimitExceeded(
            Violation(
                "",
                f"the stored form of this vCon would be {size} bytes, above MongoDB's "
                f"document size limit of {limit} bytes (16 MiB); it holds the JSON text "
                "and its typed form, so the vCon's JSON must stay under about half of that",
            ),
            limit_name=DOCUMENT_LIMIT_NAME,
            limit=limit,
        )


# Only the newest entry: for a live vCon, the create that stored it.
_NEWEST_ENTRY: Final = {"$slice": -1}
STORED_PROJECTION: Final = {
    "_id": 0,
    F.VCON_JSON: 1,
    F.TYPED_PB: 1,
    F.SIGNED: 1,
    F.CREATED_US: 1,
    F.DETECTED_VERSION: 1,
    F.SCITT: _NEWEST_ENTRY,
}
# The winner of a duplicate create, or the tombstone to bring back to life:
# all its entries (a handful, without content), for the revived document's size.
EXISTING_PROJECTION: Final = {
    "_id": 0,
    F.CONTENT_HASH: 1,
    F.CREATED_US: 1,
    F.DETECTED_VERSION: 1,
    F.TOMBSTONE: 1,
    F.SCITT: 1,
}
# What a deletion needs: which document, the hash its statement covers, and
# whether there is a history to keep.
DELETE_PROJECTION: Final = {
    "_id": 1,
    F.CONTENT_HASH: 1,
    F.SCITT: _NEWEST_ENTRY,
}
# Everything a list item needs and nothing more: vcon_json and typed_pb are
# the bulk of a document and a page must not read them.
LIST_PROJECTION: Final = {
    "_id": 0,
    F.UUID: 1,
    F.CREATED_US: 1,
    F.SUBJECT: 1,
    F.DETECTED_VERSION: 1,
    F.PARTIES_PB: 1,
    F.SIGNED: 1,
}


def _instant(document: dict[str, Any]) -> datetime:
    return from_micros(int(document[F.CREATED_US]))


def has_entries(document: dict[str, Any]) -> bool:
    return bool(document.get(F.SCITT))


def _newest_entry(document: dict[str, Any]) -> ScittEntry | None:
    """The live vCon's create entry (ports.create_entry_of) from the entries
    read: the newest alone (STORED_PROJECTION) unless that is a redaction's
    copy, when needs_history() says to read them all."""
    entries = document.get(F.SCITT)
    return create_entry_of([entry_from(e) for e in entries]) if entries else None


def needs_history(document: dict[str, Any]) -> bool:
    """Whether only the newest entry was read and it is a `redact`: the
    create entry may then be an older one."""
    entries = document.get(F.SCITT) or []
    return len(entries) == 1 and entries[0][E.OPERATION] == "redact"


def stored_from(uuid: str, document: dict[str, Any]) -> StoredVcon:
    return StoredVcon(
        uuid=uuid,
        vcon_json=document[F.VCON_JSON],
        typed_pb=bytes(document[F.TYPED_PB]),
        signed=bool(document[F.SIGNED]),
        created_at=_instant(document),
        detected_version=document[F.DETECTED_VERSION],
        scitt=_newest_entry(document),
    )


def existing_from(uuid: str, document: dict[str, Any]) -> ExistingVcon:
    return ExistingVcon(
        uuid=uuid,
        content_hash=document[F.CONTENT_HASH],
        created_at=_instant(document),
        detected_version=document[F.DETECTED_VERSION],
        scitt=_newest_entry(document),
    )


def list_item_from(document: dict[str, Any]) -> VconListItem:
    return VconListItem(
        uuid=document[F.UUID],
        created_at=_instant(document),
        subject=document.get(F.SUBJECT),
        detected_version=document[F.DETECTED_VERSION],
        parties_pb=bytes(document[F.PARTIES_PB]),
        signed=bool(document[F.SIGNED]),
    )
