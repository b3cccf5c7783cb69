"""What an API key may do. A key holds a set of scopes; every RPC needs one
(api/auth_interceptor.py maps each method to its scope)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "ALL_SCOPES",
    "KEYS_ADMIN",
    "VCONS_DELETE",
    "VCONS_READ",
    "VCONS_REDACT",
    "VCONS_WRITE",
    "UnknownScope",
    "parse_scopes",
]

VCONS_READ: Final = "vcons:read"
VCONS_WRITE: Final = "vcons:write"
VCONS_REDACT: Final = "vcons:redact"
VCONS_DELETE: Final = "vcons:delete"
KEYS_ADMIN: Final = "keys:admin"
# In the order listings and help texts show them.
ALL_SCOPES: Final = (VCONS_READ, VCONS_WRITE, VCONS_REDACT, VCONS_DELETE, KEYS_ADMIN)


class UnknownScope(ValueError):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"unknown scope {scope!r}; known scopes: {', '.join(ALL_SCOPES)}")


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes from values that may each be comma-separated (`--scopes a,b
    --scopes c`), in ALL_SCOPES order, without repeats. Raises UnknownScope;
    ValueError if none is given."""
    found: set[str] = set()
    for value in values:
        for part in value.split(","):
            scope = part.strip()
            if not scope:
                continue
            if scope not in ALL_SCOPES:
                raise UnknownScope(scope)
            found.add(scope)
    if not found:
        raise ValueError(f"no scope given; known scopes: {', '.join(ALL_SCOPES)}")
    return tuple(scope for scope in ALL_SCOPES if scope in found)
