"""Typed exceptions for VconService errors, with the rich details unpacked."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True, slots=True)
class FieldViolation:
    path: str
    description: str


class VconstoreError(Exception):
    """A failed call. `reason` is ErrorInfo.reason (e.g. VCON_NOT_FOUND)."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.violations = violations


class InvalidArgument(VconstoreError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(VconstoreError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(VconstoreError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(VconstoreError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(VconstoreError):
    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(VconstoreError):
    """No usable API key: missing, malformed, unknown or revoked."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(VconstoreError):
    """The key lacks a scope; `metadata["scope"]` names it."""

    code = grpc.StatusCode.PERMISSION_DENIED


_BY_CODE: dict[grpc.StatusCode, type[VconstoreError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        ResourceExhausted,
        Unavailable,
        Unauthenticated,
        PermissionDenied,
    )
}


def from_rpc_error(error: grpc.aio.AioRpcError) -> VconstoreError:
    """Translate a raw gRPC error into the matching VconstoreError subclass."""
    cls = _BY_CODE.get(error.code(), VconstoreError)
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
    exc = cls(
        error.details() or error.code().name,
        reason=reason,
        metadata=metadata,
        violations=tuple(violations),
    )
    if cls is VconstoreError:
        exc.code = error.code()
    return exc
