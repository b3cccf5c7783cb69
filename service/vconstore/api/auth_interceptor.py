"""Every call but health and reflection presents an API key: this interceptor
resolves it to its organisation (auth/authenticator.py), checks the scope the
method needs, and runs the handler acting for that principal, which the
servicers read with `current_principal()`.

The principal travels in a context variable set by intercept_service:
grpc.aio documents that each call's interceptors start from an empty
contextvars.Context and that the handler runs in that same Context.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final, TypeAlias

import grpc
import structlog

from vconstore.api.errors import internal_status, log_fields, to_grpc_status, to_status
from vconstore.api.handlers import HANDLER_KINDS
from vconstore.auth.authenticator import Authenticator, Principal
from vconstore.auth.scopes import (
    KEYS_ADMIN,
    VCONS_DELETE,
    VCONS_READ,
    VCONS_REDACT,
    VCONS_WRITE,
)
from vconstore.domain.errors import DomainError, PermissionDenied, Unauthenticated

__all__ = [
    "METHOD_SCOPES",
    "PUBLIC_SERVICES",
    "ApiKeyInterceptor",
    "SharedCredentialInterceptor",
    "current_principal",
]

log = structlog.get_logger("vconstore.api")

# Reachable without a key: Kubernetes probes and `grpcurl list`.
PUBLIC_SERVICES: Final = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
# The scope each method needs. A method of ours missing here is refused to
# everyone (tests/api/test_api_keys.py checks every method is listed).
METHOD_SCOPES: Final[Mapping[str, str]] = {
    "/vcon.v1.VconService/CreateVcon": VCONS_WRITE,
    "/vcon.v1.VconService/GetVcon": VCONS_READ,
    "/vcon.v1.VconService/ListVcons": VCONS_READ,
    "/vcon.v1.VconService/ListScittEntries": VCONS_READ,
    "/vcon.v1.VconService/DeleteVcon": VCONS_DELETE,
    "/vcon.v1.VconService/RedactVcon": VCONS_REDACT,
    "/vcon.v1.VconService/RedactVcons": VCONS_REDACT,
    "/vcon.v1.VconService/RedactMatching": VCONS_REDACT,
    "/vcon.v1.VconService/ListRedactionPolicies": VCONS_READ,
    "/vcon.v1.VconService/ListDerivatives": VCONS_READ,
    "/vcon.v1.VconService/GetLineage": VCONS_READ,
    "/vcon.v1.ApiKeyService/CreateApiKey": KEYS_ADMIN,
    "/vcon.v1.ApiKeyService/ListApiKeys": KEYS_ADMIN,
    "/vcon.v1.ApiKeyService/RevokeApiKey": KEYS_ADMIN,
}

_principal: ContextVar[Principal] = ContextVar("vconstore_principal")

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
# Generic in the stubs only: the runtime class is not subscriptable.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]


def current_principal() -> Principal:
    """Who the running call acts for. LookupError outside an authenticated call."""
    return _principal.get()


def _service_of(method: str) -> str:
    return method.split("/")[1] if method.count("/") == 2 else ""


def _metadata_value(details: grpc.HandlerCallDetails, name: str) -> str | None:
    """The one value of `name`; "" (malformed) when it is sent more than once,
    since proxies and servers disagree on which of several would count."""
    values = [value for key, value in details.invocation_metadata or () if key == name]
    if not values:
        return None
    if len(values) > 1 or not isinstance(values[0], str):
        return ""
    return values[0]


def _replaced(handler: Handler, behavior: Behavior) -> Handler:
    """A handler of the same kind (unary or streaming) running `behavior`."""
    make = HANDLER_KINDS[(handler.request_streaming, handler.response_streaming)]
    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _refusing(handler: Handler, error: DomainError | None, method: str) -> Handler:
    """A handler answering the error's status (None: INTERNAL) to the call."""
    rich = internal_status() if error is None else to_status(error)
    status = to_grpc_status(rich)

    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort_with_status(status)

    log.info("rpc refused", method=method.rsplit("/", 1)[-1], **log_fields(rich))
    return _replaced(handler, behavior)


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or _service_of(method) in PUBLIC_SERVICES:
            return handler
        try:
            principal = await self._authenticator.authenticate(
                _metadata_value(details, "authorization")
            )
            scope = METHOD_SCOPES.get(method, "")
            if scope not in principal.scopes:
                raise PermissionDenied(scope or "(none grants it)", method.rsplit("/", 1)[-1])
        except DomainError as error:
            return _refusing(handler, error, method)
        except Exception as error:
            # As in api/rpc.py: the type only; the text could quote anything.
            log.error("authentication failed", method=method, error_type=type(error).__name__)
            return _refusing(handler, None, method)
        _principal.set(principal)
        return handler


class SharedCredentialInterceptor(grpc.aio.ServerInterceptor):
    """The ledger's register RPCs (`methods`) answer only a caller presenting
    `authorization: Bearer <credential>` (the store); every other method is
    public. Compared in constant time."""

    def __init__(self, credential: str, methods: frozenset[str]) -> None:
        self._expected = f"Bearer {credential}".encode()
        self._methods = methods

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or method not in self._methods:
            return handler
        presented = _metadata_value(details, "authorization")
        if presented is None:
            return _refusing(handler, _REGISTRAR_MISSING, method)
        if not hmac.compare_digest(presented.encode(), self._expected):
            return _refusing(handler, _REGISTRAR_INVALID, method)
        return handler


_REGISTRAR_MISSING: Final = Unauthenticated(
    "CREDENTIAL_MISSING", "registering needs the store's credential (authorization: Bearer ...)"
)
_REGISTRAR_INVALID: Final = Unauthenticated(
    "CREDENTIAL_INVALID", "this is not the credential the ledger was configured with"
)
