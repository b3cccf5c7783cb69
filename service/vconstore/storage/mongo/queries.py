"""MongoDB query documents for the port's operations: pure functions, no I/O,
so the exact queries the adapter sends can be explained against a real server
by the tests.

Semantics match the SQLite adapter (storage/sqlite/queries.py) exactly:
created_after inclusive, created_before exclusive; tel, mailto and tag equal a
stored key; tag_key equals any tag's key; name and subject are literal
substrings of the casefold()ed text; newest first by (created, uuid).

Tombstones (deleted vCons whose ledger entries are kept; see documents.py)
have no created_us. Every list query bounds created_us to a numeric range
(from the smallest int64 when no created_after is given), so a tombstone is
outside the index bounds of every list index and can match neither a page nor
a total, without a filter on the tombstone marker that no index holds. get()
and exists() read through the key index and leave them out explicitly
(`live`). The ledger outbox's own queries are in scitt.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pymongo import DESCENDING

from vconstore.ports import Cursor, VconFilter
from vconstore.storage.normalise import fold, to_micros

from .documents import F
from .indexes import BY_CREATED, BY_MAILTO, BY_TAG, BY_TAG_KEY, BY_TEL

__all__ = [
    "NEWEST_FIRST",
    "NOT_TOMBSTONE",
    "ListQuery",
    "by_key",
    "derivatives_query",
    "list_query",
    "literal_pattern",
    "live",
]

NEWEST_FIRST: Final = [(F.CREATED_US, DESCENDING), (F.UUID, DESCENDING)]
NOT_TOMBSTONE: Final = {F.TOMBSTONE: {"$exists": False}}

# Between party names in SQLite's names_folded. A needle holding it can never
# match there, so it must not match here either, although names are an array.
_NAME_SEPARATOR: Final = "\x1f"
_MATCH_NOTHING: Final[dict[str, list[str]]] = {"$in": []}
# The lower bound of created_us when no created_after is given: every int64,
# and so every live vCon, but no tombstone (which has no created_us at all).
_EARLIEST_US: Final = -(2**63)

# Equality filters in the order their index is preferred when several are
# given (a phone number or an address is usually rarer than a tag).
_KEY_FILTERS: Final = (
    ("party_tel", F.TELS, BY_TEL),
    ("party_mailto", F.MAILTOS, BY_MAILTO),
    ("tag", F.TAGS, BY_TAG),
    ("tag_key", F.TAG_KEYS, BY_TAG_KEY),
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    # Every match, ignoring the cursor: what `total` counts.
    matching: dict[str, Any]
    # The matches after the cursor: what the page reads.
    page: dict[str, Any]
    sort: list[tuple[str, int]]
    # Named explicitly so the plan does not depend on the planner's trial runs
    # or its cache; the real-server test explains exactly this.
    hint: str
    # One more than asked: tells whether more follow without a second query.
    fetch: int


def by_key(org: str, uuid: str) -> dict[str, Any]:
    """The document of (org, uuid), live or tombstone."""
    return {F.ORG: org, F.UUID: uuid}


def live(org: str, uuid: str) -> dict[str, Any]:
    """The live vCon (org, uuid): its document unless that is a tombstone."""
    return {F.ORG: org, F.UUID: uuid, **NOT_TOMBSTONE}


def literal_pattern(text: str) -> str:
    """A regular expression matching `text` literally, that PCRE (MongoDB) and
    Python's `re` (the test stand-in) read the same way.

    Every ASCII character other than a letter or digit is escaped: a backslash
    before punctuation or a space means the character itself in both dialects.
    Control characters become \\xHH, since a NUL may not appear in a MongoDB
    pattern at all. Letters, digits and non-ASCII characters stand for
    themselves (MongoDB matches in UTF-8 mode, code point by code point).
    """
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 and not char.isalnum():
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _matching(org: str, where: VconFilter) -> tuple[dict[str, Any], str]:
    query: dict[str, Any] = {F.ORG: org}
    # Always a numeric range, even without created_after: that keeps tombstones out.
    created: dict[str, int] = {
        "$gte": _EARLIEST_US if where.created_after is None else to_micros(where.created_after)
    }
    if where.created_before is not None:
        created["$lt"] = to_micros(where.created_before)
    query[F.CREATED_US] = created
    hint = BY_CREATED
    for attribute, field, index in reversed(_KEY_FILTERS):
        value = getattr(where, attribute)
        if value is not None:
            query[field] = value
            hint = index
    if where.party_name is not None:
        needle = fold(where.party_name)
        query[F.NAMES_FOLDED] = (
            _MATCH_NOTHING if _NAME_SEPARATOR in needle else {"$regex": literal_pattern(needle)}
        )
    if where.subject_contains is not None:
        # A null subject_folded never matches a $regex, as SQLite's instr() on NULL.
        query[F.SUBJECT_FOLDED] = {"$regex": literal_pattern(fold(where.subject_contains))}
    return query, hint


def _after(query: dict[str, Any], cursor: Cursor) -> dict[str, Any]:
    """Strictly after (older than) the cursor in (created_us DESC, uuid DESC)."""
    position = to_micros(cursor.created_at)
    page = dict(query)
    # The plain upper bound gives the index scan a start; the $or then drops
    # the cursor's own instant's uuids that are not below it.
    page[F.CREATED_US] = {**query[F.CREATED_US], "$lte": position}
    page["$or"] = [
        {F.CREATED_US: {"$lt": position}},
        {F.CREATED_US: position, F.UUID: {"$lt": cursor.uuid}},
    ]
    return page


def list_query(org: str, where: VconFilter, after: Cursor | None, limit: int) -> ListQuery:
    """Raises ValueError for a limit below 1 or a naive datetime."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    matching, hint = _matching(org, where)
    return ListQuery(
        matching=matching,
        page=matching if after is None else _after(matching, after),
        sort=list(NEWEST_FIRST),
        hint=hint,
        fetch=limit + 1,
    )


def derivatives_query(org: str, parent_uuid: str, after: Cursor | None) -> dict[str, Any]:
    """The live vCons redacted from `parent_uuid` (the numeric created_us
    range keeps tombstones out, as in list queries)."""
    query: dict[str, Any] = {
        F.ORG: org,
        f"{F.LINEAGE}.parent": parent_uuid,
        F.CREATED_US: {"$gte": _EARLIEST_US},
    }
    return query if after is None else _after(query, after)
