"""Instants as integer microseconds since the epoch: exact (datetime has no
finer unit) and ordered, so storage can compare and index them as integers and
page tokens can carry them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc(instant: datetime) -> datetime:
    """The same instant in UTC. A naive datetime is refused: guessing its zone
    would silently reorder vCons, and the domain layer has already decided it."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("timezone-aware datetime required")
    return instant.astimezone(UTC)


def to_micros(instant: datetime) -> int:
    return (utc(instant) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
