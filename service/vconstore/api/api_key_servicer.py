"""ApiKeyService over gRPC: the caller's organisation's keys."""

from __future__ import annotations

import grpc

from vconstore.api.auth_interceptor import current_principal
from vconstore.api.rpc import LimitedServicer, rpc
from vconstore.api.wire import timestamp_of
from vconstore.application.api_keys import ApiKeyAdmin
from vconstore.ports import ApiKeyRecord
from vconstore_proto.vcon.v1 import api_key_service_pb2 as pb
from vconstore_proto.vcon.v1 import api_key_service_pb2_grpc


def api_key_message(record: ApiKeyRecord) -> pb.ApiKey:
    message = pb.ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        scopes=record.scopes,
        created_at=timestamp_of(record.created_at),
        revoked=record.revoked_at is not None,
    )
    if record.last_used_at is not None:
        message.last_used_at.CopyFrom(timestamp_of(record.last_used_at))
    if record.revoked_at is not None:
        message.revoked_at.CopyFrom(timestamp_of(record.revoked_at))
    return message


class ApiKeyServicer(LimitedServicer, api_key_service_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, admin: ApiKeyAdmin, *, max_in_flight: int = 256) -> None:
        super().__init__(max_in_flight=max_in_flight)
        self._admin = admin

    @rpc
    async def CreateApiKey(
        self,
        request: pb.CreateApiKeyRequest,
        context: grpc.aio.ServicerContext[pb.CreateApiKeyRequest, pb.CreateApiKeyResponse],
    ) -> pb.CreateApiKeyResponse:
        created = await self._admin.create(
            org=current_principal().org, name=request.name, scopes=list(request.scopes)
        )
        return pb.CreateApiKeyResponse(
            id=created.record.id,
            key=created.key,
            prefix=created.record.prefix,
            api_key=api_key_message(created.record),
        )

    @rpc
    async def ListApiKeys(
        self,
        request: pb.ListApiKeysRequest,
        context: grpc.aio.ServicerContext[pb.ListApiKeysRequest, pb.ListApiKeysResponse],
    ) -> pb.ListApiKeysResponse:
        listing = await self._admin.list(
            org=current_principal().org,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListApiKeysResponse(
            api_keys=[api_key_message(record) for record in listing.keys],
            next_page_token=listing.next_page_token,
        )

    @rpc
    async def RevokeApiKey(
        self,
        request: pb.RevokeApiKeyRequest,
        context: grpc.aio.ServicerContext[pb.RevokeApiKeyRequest, pb.RevokeApiKeyResponse],
    ) -> pb.RevokeApiKeyResponse:
        record = await self._admin.revoke(org=current_principal().org, key_id=request.id)
        return pb.RevokeApiKeyResponse(api_key=api_key_message(record))
