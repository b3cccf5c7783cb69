"""UUID syntax: the 8-4-4-4-12 hex form, any version, any case."""

from __future__ import annotations

import re

from vconstore.domain.errors import InvalidRequest

UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def is_uuid(value: str) -> bool:
    return UUID_PATTERN.fullmatch(value) is not None


def canonical_uuid(value: str, *, field: str | None = None) -> str:
    """The storage key of a uuid: lower case. With `field`, a malformed uuid in
    that request field is an InvalidRequest."""
    if field is not None and not is_uuid(value):
        raise InvalidRequest(
            field, f"not a UUID (8-4-4-4-12 hex digits): {value[:64]!r}", reason="INVALID_UUID"
        )
    return value.lower()
