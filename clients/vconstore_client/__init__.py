"""Python client SDK for vconstore's VconService."""

from vconstore_client.client import VconstoreClient
from vconstore_client.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    VconstoreError,
)
from vconstore_client.scitt import verify_scitt_entry

__all__ = [
    "AlreadyExists",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "VconstoreClient",
    "VconstoreError",
    "verify_scitt_entry",
]
