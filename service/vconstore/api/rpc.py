"""What every servicer method shares: a bound on calls in flight, the mapping
of domain errors to rich statuses (api/errors.py), and never leaking the text
of an unexpected error."""

from __future__ import annotations

import asyncio
import functools
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
import structlog

from vconstore.api.errors import internal_status, log_fields, to_grpc_status, to_status
from vconstore.api.handlers import UndecodableRequest
from vconstore.domain.errors import DomainError, InvalidRequest, Overloaded

__all__ = ["LimitedServicer", "rpc", "stream_rpc"]

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


def rpc(method: Handler[S, Req, Resp]) -> Handler[S, Req, Resp]:
    """Map domain errors to rich statuses; never leak an unexpected error's text
    (it may quote vCon content) — log its type and frames only."""

    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]) -> Resp:
        started = time.perf_counter()
        admitted = False
        try:
            # Bounds memory (each call in flight holds its vCon several times
            # over) without touching health checks, which must answer under load.
            if self._in_flight >= self._max_in_flight:
                raise Overloaded(self._max_in_flight)
            self._in_flight += 1
            admitted = True
            if isinstance(request, UndecodableRequest):
                raise InvalidRequest(
                    "request", f"not a valid {name}Request message: {request.reason}"
                )
            response = await method(self, request, context)
        except DomainError as error:
            status = to_status(error)
            log.info(
                "rpc refused",
                method=name,
                **log_fields(status),
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.error(
                "rpc failed",
                method=name,
                error_type=type(error).__name__,
                frames="".join(traceback.format_tb(error.__traceback__)),
            )
            status = internal_status()
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
            if self._in_flight >= self._max_in_flight:
                raise Overloaded(self._max_in_flight)
            self._in_flight += 1
            admitted = True
            if isinstance(request, UndecodableRequest):
                raise InvalidRequest(
                    "request", f"not a valid {name}Request message: {request.reason}"
                )
            async for response in method(self, request, context):
                yield response
            return
        except DomainError as error:
            status = to_status(error)
            log.info("rpc refused", method=name, **log_fields(status))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.error(
                "rpc failed",
                method=name,
                error_type=type(error).__name__,
                frames="".join(traceback.format_tb(error.__traceback__)),
            )
            status = internal_status()
        finally:
            if admitted:
                self._in_flight -= 1
        await context.abort_with_status(to_grpc_status(status))

    return wrapper
