"""An async client for VconService: JSON in, typed results out, typed errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import grpc

from vconstore_client.errors import from_rpc_error
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc


class VconstoreClient:
    """`async with VconstoreClient("127.0.0.1:50051") as client: ...`"""

    def __init__(self, target: str, *, channel: grpc.aio.Channel | None = None) -> None:
        self._channel = channel or grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", -1)]
        )
        self._stub = vcon_service_pb2_grpc.VconServiceStub(self._channel)

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
            return await self._stub.CreateVcon(request, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def get_vcon_json(self, uuid: str, *, timeout: float | None = None) -> str:
        """The stored text exactly as accepted."""
        request = pb.GetVconRequest(uuid=uuid, view=pb.VCON_VIEW_JSON)
        try:
            return (await self._stub.GetVcon(request, timeout=timeout)).vcon_json
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
                pb.GetVconRequest(uuid=uuid, view=view), timeout=timeout
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
                page = await self._stub.ListVcons(page_request)
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
            return await self._stub.DeleteVcon(pb.DeleteVconRequest(uuid=uuid), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def scitt_entries(self, uuid: str, *, page_size: int = 0) -> AsyncIterator[pb.ScittEntry]:
        """Every ledger entry of the vCon, oldest first, following page tokens.
        Check each with vconstore_client.scitt.verify_scitt_entry."""
        request = pb.ListScittEntriesRequest(uuid=uuid, page_size=page_size)
        while True:
            try:
                page = await self._stub.ListScittEntries(request)
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None
            for entry in page.entries:
                yield entry
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token
