"""Ledger domain errors; the ledger's gRPC layer maps each to one status."""

from __future__ import annotations

from vconstore.domain.errors import DomainError

__all__ = [
    "EntryNotFound",
    "StatementMalformed",
    "StatementRejected",
    "TreeSizeOutOfRange",
]


class StatementMalformed(DomainError):
    """Not a well-formed signed statement of ours (INVALID_ARGUMENT)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed signed statement: {reason}")


class StatementRejected(DomainError):
    """Well-formed, but its issuer is not trusted or its signature does not
    verify (PERMISSION_DENIED)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"signed statement rejected: {reason}")


class TreeSizeOutOfRange(DomainError):
    """A tree size beyond the current one (OUT_OF_RANGE)."""

    def __init__(self, requested: int, current: int) -> None:
        self.requested = requested
        self.current = current
        super().__init__(f"tree size {requested} is beyond the current size {current}")


class EntryNotFound(DomainError):
    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"ledger entry {entry_id} not found")
