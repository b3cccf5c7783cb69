"""VconService's redaction methods (RedactVcon, the two bulk streams,
ListRedactionPolicies, ListDerivatives, GetLineage), mixed into
VconServicer: wire messages to application/redactions.py and back."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc

from vconstore.api.auth_interceptor import current_principal
from vconstore.api.errors import to_status
from vconstore.api.handlers import UndecodableRequest
from vconstore.api.rpc import LimitedServicer, failure_status, rpc, stream_rpc
from vconstore.api.wire import list_request, scitt_message, summary_message
from vconstore.application.redactions import RedactionOutcome, Redactions
from vconstore.domain.errors import InvalidRequest
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

__all__ = ["RedactionMethods", "redact_response"]

# Redactions one stream runs at once: enough to overlap each one's wait for
# its storage write and ledger receipt, few enough that a stream holds a
# bounded number of vCons in memory (a result not yet sent holds its slot).
STREAM_WINDOW: Final = 64


def redact_response(outcome: RedactionOutcome) -> pb.RedactVconResponse:
    response = pb.RedactVconResponse(
        uuid=outcome.created.uuid,
        parent_uuid=outcome.parent_uuid,
        redacted=True,
        vcon_json=outcome.vcon_json,
        policy=outcome.policy,
        signed_vcon_json=outcome.signed_vcon_json,
    )
    if outcome.created.scitt is not None:
        response.scitt.CopyFrom(scitt_message(outcome.created.scitt))
    return response


class RedactionMethods(LimitedServicer):
    _redactions: Redactions

    async def _one(
        self, org: str, uuid: str, policy: str, signed_form: bool
    ) -> pb.RedactVconsResponse:
        """One item of a bulk redaction: its result, or its error as a status."""
        try:
            outcome = await self._redactions.redact(
                org=org, uuid=uuid, policy=policy, signed_form=signed_form
            )
        except Exception as error:
            # The status a RedactVcon call would end with, logged the same way.
            status = failure_status(error, "RedactVcons")
            return pb.RedactVconsResponse(parent_uuid=uuid, error=status)
        return pb.RedactVconsResponse(parent_uuid=uuid, result=redact_response(outcome))

    @rpc
    async def RedactVcon(
        self,
        request: pb.RedactVconRequest,
        context: grpc.aio.ServicerContext[pb.RedactVconRequest, pb.RedactVconResponse],
    ) -> pb.RedactVconResponse:
        outcome = await self._redactions.redact(
            org=current_principal().org,
            uuid=request.uuid,
            policy=request.policy,
            signed_form=request.include_signed_form,
        )
        return redact_response(outcome)

    @rpc
    async def ListRedactionPolicies(
        self,
        request: pb.ListRedactionPoliciesRequest,
        context: grpc.aio.ServicerContext[
            pb.ListRedactionPoliciesRequest, pb.ListRedactionPoliciesResponse
        ],
    ) -> pb.ListRedactionPoliciesResponse:
        return pb.ListRedactionPoliciesResponse(
            policies=[
                pb.RedactionPolicy(
                    name=policy.name,
                    description=policy.description,
                    text_kinds=sorted(policy.text_kinds),
                    party_members=sorted(policy.party_members),
                    keeps_media=policy.keep_media,
                )
                for policy in self._redactions.policies()
            ]
        )

    @rpc
    async def ListDerivatives(
        self,
        request: pb.ListDerivativesRequest,
        context: grpc.aio.ServicerContext[pb.ListDerivativesRequest, pb.ListDerivativesResponse],
    ) -> pb.ListDerivativesResponse:
        page = await self._redactions.derivatives(
            org=current_principal().org,
            uuid=request.uuid,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListDerivativesResponse(
            vcons=[summary_message(item) for item in page.items],
            next_page_token=page.next_page_token,
        )

    @rpc
    async def GetLineage(
        self,
        request: pb.GetLineageRequest,
        context: grpc.aio.ServicerContext[pb.GetLineageRequest, pb.GetLineageResponse],
    ) -> pb.GetLineageResponse:
        steps = await self._redactions.lineage(org=current_principal().org, uuid=request.uuid)
        return pb.GetLineageResponse(
            ancestors=[
                pb.LineageLink(uuid=step.uuid, type=step.type, stored=step.stored) for step in steps
            ]
        )

    @stream_rpc
    async def RedactMatching(
        self,
        request: pb.RedactMatchingRequest,
        context: grpc.aio.ServicerContext[pb.RedactMatchingRequest, pb.RedactMatchingResponse],
    ) -> AsyncIterator[pb.RedactMatchingResponse]:
        org = current_principal().org
        self._redactions.policy(request.policy)  # an unknown one ends the call first
        uuids = await self._redactions.matching(org=org, request=list_request(request.filter))
        total = len(uuids)
        yield pb.RedactMatchingResponse(progress=pb.RedactionProgress(done=0, total=total))
        done = 0
        async for item in _windowed(
            _mapped(
                _each(uuids),
                lambda uuid: self._one(org, uuid, request.policy, request.include_signed_form),
            )
        ):
            done += 1
            yield pb.RedactMatchingResponse(result=item)
            yield pb.RedactMatchingResponse(progress=pb.RedactionProgress(done=done, total=total))

    @stream_rpc
    async def RedactVcons(
        self,
        request_iterator: AsyncIterator[pb.RedactVconsRequest | UndecodableRequest],
        # (Typed loosely: stream_rpc's request type is the iterator here.)
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.RedactVconsResponse]:
        org = current_principal().org

        def work(request: pb.RedactVconsRequest | UndecodableRequest) -> Awaitable[Any]:
            if isinstance(request, UndecodableRequest):
                error = InvalidRequest(
                    "request", f"not a valid RedactVconsRequest message: {request.reason}"
                )
                return _settled(pb.RedactVconsResponse(error=to_status(error)))
            return self._one(org, request.uuid, request.policy, request.include_signed_form)

        async for item in _windowed(_mapped(request_iterator, work)):
            yield item


async def _settled(value: Any) -> Any:
    return value


async def _mapped(
    requests: AsyncIterator[Any], work: Callable[[Any], Awaitable[Any]]
) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    async for request in requests:
        yield functools.partial(work, request)


async def _windowed(
    jobs: AsyncIterator[Callable[[], Awaitable[Any]]], window: int = STREAM_WINDOW
) -> AsyncIterator[Any]:
    """Run the jobs at most `window` at a time, yielding results as they
    finish, while still taking new jobs (a client may wait for one result
    before it sends the next request). A job's slot is freed only once its
    result has been taken, so a consumer that stops reading stops new work
    (back-pressure); if the consumer goes away (cancellation), every job
    still running is cancelled."""
    running: set[asyncio.Future[Any]] = set()
    taking: asyncio.Future[Callable[[], Awaitable[Any]]] | None = None
    exhausted = False
    try:
        while True:
            if taking is None and not exhausted and len(running) < window:
                taking = asyncio.ensure_future(jobs.__anext__())
            waiting = running | ({taking} if taking is not None else set())
            if not waiting:
                return
            finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if taking is not None and taking in finished:
                finished.discard(taking)
                try:
                    job = taking.result()
                except StopAsyncIteration:
                    exhausted = True
                else:
                    running.add(asyncio.ensure_future(job()))
                taking = None
            for task in finished:
                running.discard(task)
                yield task.result()
    finally:
        leftovers = running | ({taking} if taking is not None else set())
        for task in leftovers:
            task.cancel()
        for task in leftovers:
            with contextlib.suppress(BaseException):
                await task


async def _each(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item
