"""Domain errors. api/errors.py is the one place that maps them to gRPC statuses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a vCon is refused, at a JSON path such as `dialog[0].parties[1]`.

    `path` is "" for the document as a whole.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DomainError(Exception):
    """Base of every error the service reports on purpose."""


class VconInvalid(DomainError):
    """The submitted vCon is refused. `violations` lists the reasons (at most 100
    of them); `total` counts every reason found."""

    def __init__(
        self, violations: list[Violation], *, reason: str = "VCON_INVALID", total: int | None = None
    ) -> None:
        self.violations = violations
        self.reason = reason
        self.total = len(violations) if total is None else total
        super().__init__("; ".join(str(v) for v in violations))


class LimitExceeded(VconInvalid):
    """A configured size limit was exceeded (vCon bytes, array length, depth)."""

    def __init__(self, violation: Violation, *, limit_name: str, limit: int) -> None:
        self.limit_name = limit_name
        self.limit = limit
        super().__init__([violation], reason="VCON_LIMIT_EXCEEDED")


class InvalidRequest(DomainError):
    """A request field other than the vCon is malformed (uuid, page size, token...)."""

    def __init__(self, field: str, message: str, *, reason: str = "INVALID_REQUEST") -> None:
        self.field = field
        self.message = message
        self.reason = reason
        super().__init__(f"{field}: {message}")


class VconNotFound(DomainError):
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(f"vCon {uuid} not found")


class VconAlreadyExists(DomainError):
    """The uuid exists with other content (a retry with the same content succeeds)."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(f"vCon {uuid} already exists with different content")


class StorageUnavailable(DomainError):
    """The storage backend cannot be reached; the call may be retried."""


class Overloaded(DomainError):
    """More calls in flight than configured; the caller should retry later."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"more than {limit} calls in flight; retry shortly")


class Unauthenticated(DomainError):
    """No usable API key: missing, malformed, unknown or revoked. `reason` says
    which of the first two; unknown and revoked keys share one answer so a
    caller learns nothing about keys it does not hold."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class PermissionDenied(DomainError):
    """The key is valid but lacks the scope the method needs."""

    def __init__(self, scope: str, method: str) -> None:
        self.scope = scope
        self.method = method
        super().__init__(f"the API key lacks the scope {scope} that {method} needs")


class ApiKeyNotFound(DomainError):
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"API key {key_id} not found")
