"""How every storage backend derives the values it indexes, so that they agree.

The contract suite runs the same queries against each backend; any backend-specific
folding or key extraction would show up there as a difference in results.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["fold", "from_micros", "tag_key", "to_micros", "utc"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc(instant: datetime) -> datetime:
    """The same instant in UTC. A naive datetime is refused: guessing its zone
    would silently reorder vCons, and the domain layer has already decided it."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("storage needs timezone-aware datetimes")
    return instant.astimezone(UTC)


def to_micros(instant: datetime) -> int:
    """Integer microseconds since the epoch: exact (datetime has no finer unit)
    and ordered, so it can be compared and indexed as a plain integer."""
    return (utc(instant) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def fold(text: str) -> str:
    """The case-insensitive form for substring search. casefold() rather than
    lower() so that e.g. "STRASSE" finds "Straße"."""
    return text.casefold()


def tag_key(tag: str) -> str:
    """The part of a `key:value` tag before the first ':'; a tag without ':' is all key."""
    return tag.partition(":")[0]
