"""Telling a MongoDB outage apart from a bug, and saying so without content."""

from __future__ import annotations

from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
)

from vconstore.domain.errors import StorageUnavailable

__all__ = ["is_storage_failure", "unavailable"]


def is_storage_failure(exc: BaseException) -> bool:
    """Whether MongoDB could not do the work (unreachable, no primary, timed
    out, refused the credentials or the privileges, write concern not met), as
    opposed to this code sending something invalid (InvalidDocument, a bad
    query), which must surface as a bug rather than as a retryable outage.

    DuplicateKeyError is an OperationFailure too; insert() handles it first.
    ConfigurationError covers a mongodb+srv:// name that does not resolve
    (looked up on first use); InvalidOperation a client closed under a call.
    """
    return isinstance(
        exc, ConnectionFailure | OperationFailure | ConfigurationError | InvalidOperation
    )


def unavailable(exc: PyMongoError) -> StorageUnavailable:
    """A StorageUnavailable naming the error class and server code only: server
    messages can quote documents (and so vCon content), and error text from
    server selection lists hosts, which callers have no need to see."""
    code = getattr(exc, "code", None)
    suffix = f", code {code}" if code is not None else ""
    return StorageUnavailable(f"MongoDB storage unavailable ({type(exc).__name__}{suffix})")
