"""The one place that turns domain errors into gRPC statuses (AIP-193).

Every error carries google.rpc.ErrorInfo (domain "vconstore.v1", an
UPPER_SNAKE reason, metadata repeating the values in the message); a refused
vCon also carries google.rpc.BadRequest with one field violation per problem
(field = the JSON path), and NOT_FOUND / ALREADY_EXISTS carry ResourceInfo.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from vconstore.domain.errors import (
    ApiKeyNotFound,
    DomainError,
    InvalidRequest,
    LimitExceeded,
    Overloaded,
    PermissionDenied,
    StorageUnavailable,
    Unauthenticated,
    VconAlreadyExists,
    VconInvalid,
    VconNotFound,
    Violation,
)
from vconstore.ledger.errors import (
    EntryNotFound,
    StatementMalformed,
    StatementRejected,
    TreeSizeOutOfRange,
)

ERROR_DOMAIN = "vconstore.v1"
VCON_RESOURCE_TYPE = "vcon.v1.Vcon"
ENTRY_RESOURCE_TYPE = "vcon.ledger.v1.Entry"
API_KEY_RESOURCE_TYPE = "vcon.v1.ApiKey"
# The status travels in HTTP/2 trailers, and C-core clients (Python, C++,
# Ruby...) refuse large ones as RESOURCE_EXHAUSTED, hiding the refusal itself.
# Measured with grpcio 1.85's Python client and default options, where
# grpc-status-details-bin repeats the message inside the base64 Status: trailers
# of ~9.4 KB always arrived, ~10.5 KB failed 15% of the time, ~14 KB 57%.
# So the message and the BadRequest details get budgets that keep the trailers
# near 7.5 KB; violations beyond them are counted ("... and N more") and
# ErrorInfo.metadata carries the full count. About 30 typical violations fit.
MESSAGE_BUDGET = 2000
DETAILS_BUDGET = 2000
# Long enough for every message the server writes itself (the longest is
# ~160); only values echoed from the request (a 10 KB dialog type) get cut.
MAX_DESCRIPTION_CHARS = 240


def _pack(*details: object) -> list[any_pb2.Any]:
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)  # type: ignore[arg-type]
        packed.append(wrapper)
    return packed


def _error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)


def _short(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 3] + "..."


def _refusal(error: VconInvalid) -> tuple[str, list[error_details_pb2.BadRequest.FieldViolation]]:
    """The message and field violations, each cut to its budget."""
    count = error.total
    parts: list[str] = []
    used = 0
    for violation in error.violations:
        text = str(Violation(violation.path, _short(violation.message)))
        # grpc-message is percent-encoded: count non-ASCII characters thrice.
        cost = len(text.encode()) * 3 - len(text) * 2 + 2 if not text.isascii() else len(text) + 2
        if used + cost > MESSAGE_BUDGET:
            break
        parts.append(text)
        used += cost
    message = f"vCon refused ({count} problem{'s' if count != 1 else ''}): " + "; ".join(parts)
    if len(parts) < count:
        message += f"; ... and {count - len(parts)} more"
    violations = []
    used = 0
    for violation in error.violations:
        field_violation = error_details_pb2.BadRequest.FieldViolation(
            field=violation.path, description=_short(violation.message)
        )
        used += field_violation.ByteSize() + 3
        if used > DETAILS_BUDGET:
            break
        violations.append(field_violation)
    return message, violations


def to_status(error: DomainError) -> status_pb2.Status:
    if isinstance(error, VconInvalid):
        message, violations = _refusal(error)
        metadata = {
            "violationCount": str(error.total),
            "violationsInDetails": str(len(violations)),
        }
        if isinstance(error, LimitExceeded):
            metadata.update(limitName=error.limit_name, limit=str(error.limit))
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=message,
            details=_pack(
                _error_info(error.reason, **metadata),
                error_details_pb2.BadRequest(field_violations=violations),
            ),
        )
    if isinstance(error, InvalidRequest):
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=str(error),
            details=_pack(
                _error_info(error.reason, field=error.field),
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=error.field, description=error.message, reason=error.reason
                        )
                    ]
                ),
            ),
        )
    if isinstance(error, VconNotFound):
        return status_pb2.Status(
            code=code_pb2.NOT_FOUND,
            message=str(error),
            details=_pack(
                _error_info("VCON_NOT_FOUND", uuid=error.uuid),
                error_details_pb2.ResourceInfo(
                    resource_type=VCON_RESOURCE_TYPE, resource_name=error.uuid
                ),
            ),
        )
    if isinstance(error, VconAlreadyExists):
        return status_pb2.Status(
            code=code_pb2.ALREADY_EXISTS,
            message=str(error),
            details=_pack(
                _error_info("VCON_ALREADY_EXISTS", uuid=error.uuid),
                error_details_pb2.ResourceInfo(
                    resource_type=VCON_RESOURCE_TYPE,
                    resource_name=error.uuid,
                    description="a vCon with this uuid exists with different content",
                ),
            ),
        )
    if isinstance(error, StatementMalformed):
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=_short(str(error)),
            details=_pack(_error_info("STATEMENT_MALFORMED", problem=_short(error.reason))),
        )
    if isinstance(error, StatementRejected):
        return status_pb2.Status(
            code=code_pb2.PERMISSION_DENIED,
            message=_short(str(error)),
            details=_pack(_error_info("STATEMENT_REJECTED", problem=_short(error.reason))),
        )
    if isinstance(error, TreeSizeOutOfRange):
        return status_pb2.Status(
            code=code_pb2.OUT_OF_RANGE,
            message=str(error),
            details=_pack(
                _error_info(
                    "TREE_SIZE_OUT_OF_RANGE",
                    requested=str(error.requested),
                    current=str(error.current),
                )
            ),
        )
    if isinstance(error, EntryNotFound):
        return status_pb2.Status(
            code=code_pb2.NOT_FOUND,
            message=str(error),
            details=_pack(
                _error_info("ENTRY_NOT_FOUND", entryId=error.entry_id),
                error_details_pb2.ResourceInfo(
                    resource_type=ENTRY_RESOURCE_TYPE, resource_name=error.entry_id
                ),
            ),
        )
    if isinstance(error, Unauthenticated):
        return status_pb2.Status(
            code=code_pb2.UNAUTHENTICATED,
            message=str(error),
            details=_pack(_error_info(error.reason)),
        )
    if isinstance(error, PermissionDenied):
        return status_pb2.Status(
            code=code_pb2.PERMISSION_DENIED,
            message=str(error),
            details=_pack(_error_info("SCOPE_MISSING", scope=error.scope, method=error.method)),
        )
    if isinstance(error, ApiKeyNotFound):
        return status_pb2.Status(
            code=code_pb2.NOT_FOUND,
            message=_short(str(error)),
            details=_pack(
                _error_info("API_KEY_NOT_FOUND", id=_short(error.key_id)),
                error_details_pb2.ResourceInfo(
                    resource_type=API_KEY_RESOURCE_TYPE, resource_name=_short(error.key_id)
                ),
            ),
        )
    if isinstance(error, Overloaded):
        return status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED,
            message=str(error),
            details=_pack(_error_info("TOO_MANY_CALLS", limit=str(error.limit))),
        )
    if isinstance(error, StorageUnavailable):
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE,
            message=f"storage unavailable: {error}",
            details=_pack(_error_info("STORAGE_UNAVAILABLE")),
        )
    return internal_status()


def log_fields(status: status_pb2.Status) -> dict[str, str]:
    """What a log line says of a refusal: the code's name and ErrorInfo's
    reason (the same words the caller sees), never the message, which may
    quote the request."""
    reason = ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return {"code": code_pb2.Code.Name(status.code), "reason": reason}


def internal_status() -> status_pb2.Status:
    return status_pb2.Status(
        code=code_pb2.INTERNAL,
        message="internal error",
        details=_pack(_error_info("INTERNAL")),
    )


def to_grpc_status(status: status_pb2.Status) -> grpc.Status:
    converted: grpc.Status = rpc_status.to_status(status)
    return converted
