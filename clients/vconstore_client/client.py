"""An async client for VconService: JSON in, typed results out, typed errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

from vconstore_client.errors import from_rpc_error
from vconstore_proto.vcon.v1 import api_key_service_pb2 as keys_pb
from vconstore_proto.vcon.v1 import api_key_service_pb2_grpc, vcon_service_pb2_grpc
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb


class VconstoreClient:
    """`async with VconstoreClient("127.0.0.1:50051", api_key="vcs_live_sk_...") as client:`

    Every call presents `api_key` (its organisation is the one the calls act
    for); without one, only health and reflection answer.
    """

    def __init__(
        self, target: str, *, api_key: str | None = None, channel: grpc.aio.Channel | None = None
    ) -> None:
        self._channel = channel or grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", -1)]
        )
        self._metadata = () if api_key is None else (("authorization", f"Bearer {api_key}"),)
        self._stub = vcon_service_pb2_grpc.VconServiceStub(self._channel)
        self._keys = api_key_service_pb2_grpc.ApiKeyServiceStub(self._channel)

    async def __aenter__(self) -> VconstoreClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def create_vcon(
        self,
        vcon: str | Mapping[str, Any],
        *,
        strict: bool = False,
        assign_uuid: bool = False,
        timeout: float | None = None,
    ) -> pb.CreateVconResponse:
        """Store a vCon given as JSON text (kept byte for byte) or as a dict."""
        text = vcon if isinstance(vcon, str) else json.dumps(vcon, ensure_ascii=False)
        request = pb.CreateVconRequest(vcon_json=text, strict=strict, assign_uuid=assign_uuid)
        try:
            return await self._stub.CreateVcon(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def get_vcon_json(self, uuid: str, *, timeout: float | None = None) -> str:
        """The stored text exactly as accepted."""
        request = pb.GetVconRequest(uuid=uuid, view=pb.VCON_VIEW_JSON)
        try:
            return (
                await self._stub.GetVcon(request, timeout=timeout, metadata=self._metadata)
            ).vcon_json
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def get_vcon(
        self,
        uuid: str,
        *,
        view: pb.VconView.ValueType = pb.VCON_VIEW_BOTH,
        timeout: float | None = None,
    ) -> pb.GetVconResponse:
        try:
            return await self._stub.GetVcon(
                pb.GetVconRequest(uuid=uuid, view=view), timeout=timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def list_vcons(
        self, request: pb.ListVconsRequest | None = None
    ) -> AsyncIterator[pb.VconSummary]:
        """Every match, newest first, following page tokens."""
        # A copy: the caller's request is not changed as pages advance.
        page_request = pb.ListVconsRequest()
        if request is not None:
            page_request.CopyFrom(request)
        while True:
            try:
                page = await self._stub.ListVcons(page_request, metadata=self._metadata)
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None
            for summary in page.vcons:
                yield summary
            if not page.next_page_token:
                return
            page_request.page_token = page.next_page_token

    async def delete_vcon(
        self, uuid: str, *, timeout: float | None = None
    ) -> pb.DeleteVconResponse:
        """Erase the vCon; the answer carries the deletion's ledger entry."""
        try:
            return await self._stub.DeleteVcon(
                pb.DeleteVconRequest(uuid=uuid), timeout=timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def scitt_entries(self, uuid: str, *, page_size: int = 0) -> AsyncIterator[pb.ScittEntry]:
        """Every ledger entry of the vCon, oldest first, following page tokens.
        Check each with vconstore_client.scitt.verify_scitt_entry."""
        request = pb.ListScittEntriesRequest(uuid=uuid, page_size=page_size)
        while True:
            try:
                page = await self._stub.ListScittEntries(request, metadata=self._metadata)
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None
            for entry in page.entries:
                yield entry
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def create_api_key(
        self, name: str, scopes: Sequence[str], *, timeout: float | None = None
    ) -> keys_pb.CreateApiKeyResponse:
        """A new key of this client's organisation (needs keys:admin). The
        answer's `key` is the only time the full key is shown."""
        request = keys_pb.CreateApiKeyRequest(name=name, scopes=list(scopes))
        try:
            return await self._keys.CreateApiKey(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def list_api_keys(self) -> AsyncIterator[keys_pb.ApiKey]:
        """Every key of the organisation, oldest first (needs keys:admin)."""
        request = keys_pb.ListApiKeysRequest()
        while True:
            try:
                page = await self._keys.ListApiKeys(request, metadata=self._metadata)
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None
            for key in page.api_keys:
                yield key
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def revoke_api_key(self, key_id: str, *, timeout: float | None = None) -> keys_pb.ApiKey:
        """Revoke a key of the organisation by id (needs keys:admin)."""
        request = keys_pb.RevokeApiKeyRequest(id=key_id)
        try:
            answer = await self._keys.RevokeApiKey(
                request, timeout=timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
        return answer.api_key
