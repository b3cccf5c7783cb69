"""VconService over gRPC: wire messages to use-case calls and back, nothing else."""

from __future__ import annotations

import json

import grpc
import structlog

from vconstore.api.auth_interceptor import current_principal
from vconstore.api.redaction_methods import RedactionMethods
from vconstore.api.rpc import rpc
from vconstore.api.wire import list_request, scitt_message, summary_message, timestamp_of
from vconstore.application.redactions import Redactions
from vconstore.application.vcon_store import VconStore
from vconstore.domain.errors import InvalidRequest
from vconstore.domain.typed import TypedConversionError, vcon_to_json_value
from vconstore_proto.vcon.v1 import vcon_pb2, vcon_service_pb2, vcon_service_pb2_grpc

log = structlog.get_logger("vconstore.api")

# Clients refuse responses above 4 MiB by default (gRPC's
# max_receive_message_length); summaries carry every party, and a vCon may
# have 100,000 of them, so a page stops early rather than grow past this.
LIST_RESPONSE_BUDGET = 3 * 1024 * 1024

_VIEWS_WITH_TYPED = (
    vcon_service_pb2.VCON_VIEW_UNSPECIFIED,
    vcon_service_pb2.VCON_VIEW_TYPED,
    vcon_service_pb2.VCON_VIEW_BOTH,
)
_VIEWS_WITH_JSON = (
    vcon_service_pb2.VCON_VIEW_UNSPECIFIED,
    vcon_service_pb2.VCON_VIEW_JSON,
    vcon_service_pb2.VCON_VIEW_BOTH,
)


class VconServicer(RedactionMethods, vcon_service_pb2_grpc.VconServiceServicer):
    """Every method acts for the organisation of the call's API key
    (api/auth_interceptor.py), and storage filters every query on it. The
    redaction methods are in api/redaction_methods.py."""

    def __init__(
        self, store: VconStore, redactions: Redactions, *, max_in_flight: int = 256
    ) -> None:
        super().__init__(max_in_flight=max_in_flight)
        self._store = store
        self._redactions = redactions

    @rpc
    async def CreateVcon(
        self,
        request: vcon_service_pb2.CreateVconRequest,
        context: grpc.aio.ServicerContext[
            vcon_service_pb2.CreateVconRequest, vcon_service_pb2.CreateVconResponse
        ],
    ) -> vcon_service_pb2.CreateVconResponse:
        source = request.WhichOneof("source")
        if source == "vcon_json":
            outcome = await self._store.create(
                org=current_principal().org,
                vcon_json=request.vcon_json,
                strict=request.strict,
                assign_uuid=request.assign_uuid,
            )
        elif source == "vcon":
            try:
                document = vcon_to_json_value(request.vcon)
            except TypedConversionError as error:
                raise InvalidRequest("vcon", str(error)) from None
            outcome = await self._store.create(
                org=current_principal().org,
                vcon_document=document,
                strict=request.strict,
                assign_uuid=request.assign_uuid,
            )
        else:
            raise InvalidRequest("source", "set either vcon or vcon_json")
        response = vcon_service_pb2.CreateVconResponse(
            uuid=outcome.uuid,
            created_at=timestamp_of(outcome.created_at),
            detected_version=outcome.detected_version,
            warnings=[
                vcon_service_pb2.ValidationWarning(path=w.path, message=w.message)
                for w in outcome.warnings
            ],
        )
        if outcome.scitt is not None:
            response.scitt.CopyFrom(scitt_message(outcome.scitt))
        return response

    @rpc
    async def GetVcon(
        self,
        request: vcon_service_pb2.GetVconRequest,
        context: grpc.aio.ServicerContext[
            vcon_service_pb2.GetVconRequest, vcon_service_pb2.GetVconResponse
        ],
    ) -> vcon_service_pb2.GetVconResponse:
        view = request.view
        if view not in _VIEWS_WITH_TYPED and view not in _VIEWS_WITH_JSON:
            raise InvalidRequest("view", f"unknown view {view}")
        stored = await self._store.get(org=current_principal().org, uuid=request.uuid)
        response = vcon_service_pb2.GetVconResponse(signed=stored.signed)
        if view in _VIEWS_WITH_JSON:
            response.vcon_json = stored.vcon_json
        if view in _VIEWS_WITH_TYPED:
            # Stored pre-serialised at create time: no JSON parsing on reads.
            response.vcon.MergeFromString(stored.typed_pb)
        if stored.scitt is not None:
            response.scitt.CopyFrom(scitt_message(stored.scitt))
        if request.include_signed_form:
            # The unsigned JSON (a signed vCon's payload, from its typed form).
            text = (
                json.dumps(
                    vcon_to_json_value(vcon_pb2.Vcon.FromString(stored.typed_pb)),
                    ensure_ascii=False,
                )
                if stored.signed
                else stored.vcon_json
            )
            response.signed_vcon_json = self._redactions.signer.sign(text, uuid=stored.uuid)
        return response

    @rpc
    async def ListVcons(
        self,
        request: vcon_service_pb2.ListVconsRequest,
        context: grpc.aio.ServicerContext[
            vcon_service_pb2.ListVconsRequest, vcon_service_pb2.ListVconsResponse
        ],
    ) -> vcon_service_pb2.ListVconsResponse:
        outcome = await self._store.list(org=current_principal().org, request=list_request(request))
        response = vcon_service_pb2.ListVconsResponse(
            next_page_token=outcome.next_page_token, total_size=outcome.total
        )
        size = 0
        for position, item in enumerate(outcome.items):
            summary = summary_message(item)
            size += summary.ByteSize()
            if position > 0 and size > LIST_RESPONSE_BUDGET:
                # A shorter page rather than one a default client refuses:
                # the token resumes after the last summary that fits.
                response.next_page_token = outcome.token_after(outcome.items[position - 1])
                break
            response.vcons.append(summary)
        return response

    @rpc
    async def DeleteVcon(
        self,
        request: vcon_service_pb2.DeleteVconRequest,
        context: grpc.aio.ServicerContext[
            vcon_service_pb2.DeleteVconRequest, vcon_service_pb2.DeleteVconResponse
        ],
    ) -> vcon_service_pb2.DeleteVconResponse:
        entry = await self._store.delete(org=current_principal().org, uuid=request.uuid)
        response = vcon_service_pb2.DeleteVconResponse()
        if entry is not None:
            response.scitt.CopyFrom(scitt_message(entry))
        return response

    @rpc
    async def ListScittEntries(
        self,
        request: vcon_service_pb2.ListScittEntriesRequest,
        context: grpc.aio.ServicerContext[
            vcon_service_pb2.ListScittEntriesRequest, vcon_service_pb2.ListScittEntriesResponse
        ],
    ) -> vcon_service_pb2.ListScittEntriesResponse:
        outcome = await self._store.list_scitt(
            org=current_principal().org,
            uuid=request.uuid,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return vcon_service_pb2.ListScittEntriesResponse(
            entries=[scitt_message(entry) for entry in outcome.entries],
            next_page_token=outcome.next_page_token,
        )
