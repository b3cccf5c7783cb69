"""vCon timestamps (created_at, updated_at, start, time): RFC 3339 / ISO 8601 strings.

`datetime.fromisoformat` (Python 3.11) is the parser: it takes RFC 3339 and
the common ISO 8601 forms (basic format, week dates, a space separator, a
comma before the fraction, a date alone) and refuses anything else, e.g.
`yesterday` or the RFC 2822 `Wed, 18 May 2022 23:05:05 -0000` that some
pre-0.0.1 producers wrote. Two RFC 3339 details it lacks are added here:
lowercase `t`/`z`, and a leap second (`23:59:60`, taken as the next second).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

# hh:mm:60 right after the date and separator, followed by a fraction, an
# offset or the end.
_LEAP_SECOND: Final = re.compile(r"(\d{4}-?\d{2}-?\d{2}[T ]\d{2}:?\d{2}:?)60(?=[.,Z+\-]|\Z)")


class TimestampOutOfRange(ValueError):
    """A well-formed timestamp whose instant falls outside years 1-9999 in UTC."""


def parse_timestamp(text: str) -> datetime:
    """The instant `text` names, aware and in UTC; a time without an offset is taken as UTC.

    Raises ValueError when `text` is not an ISO 8601 / RFC 3339 date-time.
    """
    return parse_timestamp_with_offset(text)[0]


def parse_timestamp_with_offset(text: str) -> tuple[datetime, bool]:
    """(instant in UTC, whether `text` carried a UTC offset); ValueError if unparseable."""
    # fromisoformat also accepts non-ASCII digits in some positions; vCon
    # timestamps are ASCII, so refuse those up front.
    if not text.isascii():
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    normalised = text.upper()
    leap = _LEAP_SECOND.match(normalised)
    if leap:
        normalised = f"{leap.group(1)}59{normalised[leap.end() :]}"
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    try:
        if leap:
            moment += timedelta(seconds=1)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC), False
        return moment.astimezone(UTC), True
    except OverflowError:
        raise TimestampOutOfRange(f"timestamp out of range: {text!r}") from None
