"""What every servicer method shares: a bound on calls in flight, the mapping
of domain errors to rich statuses (api/errors.py), and never leaking the text
of an unexpected error."""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
import structlog
from google.rpc import status_pb2

from vconstore.api.errors import internal_status, log_fields, to_grpc_status, to_status
from vconstore.api.handlers import UndecodableRequest
from vconstore.domain.errors import DomainError, InvalidRequest, Overloaded

__all__ = ["LimitedServicer", "failure_status", "rpc", "stream_rpc"]

log = structlog.get_logger("vconstore.api")

Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S", bound="LimitedServicer")
Handler = Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]]


class LimitedServicer:
    """Base of our servicers: counts the calls in flight that `rpc` admits.
    Health checks are other servicers, so probes still answer under load."""

    def __init__(self, *, max_in_flight: int) -> None:
        self._max_in_flight = max_in_flight
        self._in_flight = 0


def _admit(servicer: LimitedServicer) -> None:
    """Count the call in flight, or refuse it (Overloaded) when too many are;
    the caller gives the slot back in its `finally` once this returned."""
    # Bounds memory (each call in flight holds its vCon several times over)
    # without touching health checks, which must answer under load.
    if servicer._in_flight >= servicer._max_in_flight:
        raise Overloaded(servicer._max_in_flight)
    servicer._in_flight += 1


def _check_decoded(request: object, name: str) -> None:
    if isinstance(request, UndecodableRequest):
        raise InvalidRequest("request", f"not a valid {name}Request message: {request.reason}")


def failure_status(error: Exception, name: str, **fields: object) -> status_pb2.Status:
    """The status a failed call ends with, logged: a domain error's own; any
    other error is INTERNAL with its type and frames logged, never its text
    (it may quote vCon content)."""
    if isinstance(error, DomainError):
        status = to_status(error)
        log.info("rpc refused", method=name, **log_fields(status), **fields)
        return status
    log.error(
        "rpc failed",
        method=name,
        error_type=type(error).__name__,
        frames="".join(traceback.format_tb(error.__traceback__)),
    )
    return internal_status()


def rpc(method: Handler[S, Req, Resp]) -> Handler[S, Req, Resp]:
    """Map domain errors to rich statuses; never leak an unexpected error's text."""

    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]) -> Resp:
        started = time.perf_counter()
        admitted = False
        try:
            _admit(self)
            admitted = True
            _check_decoded(request, name)
            response = await method(self, request, context)
        except Exception as error:
            status = failure_status(
                error, name, ms=round((time.perf_counter() - started) * 1000, 2)
            )
        else:
            return response
        finally:
            if admitted:
                self._in_flight -= 1
        await context.abort_with_status(to_grpc_status(status))
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    return wrapper


StreamHandler = Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]]


def stream_rpc(method: StreamHandler[S, Req, Resp]) -> StreamHandler[S, Req, Resp]:
    """`rpc` for methods that answer with a stream: the stream counts as one
    call in flight for its whole life; an error before or between messages
    ends it with the same rich status a unary call would get."""

    name = method.__name__

    @functools.wraps(method)
    async def wrapper(
        self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> AsyncIterator[Resp]:
        admitted = False
        try:
            _admit(self)
            admitted = True
            _check_decoded(request, name)
            async for response in method(self, request, context):
                yield response
            return
        except Exception as error:
            status = failure_status(error, name)
        finally:
            if admitted:
                self._in_flight -= 1
        await context.abort_with_status(to_grpc_status(status))

    return wrapper
