"""The ledger process over gRPC: the registrar's one way to reach it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2, ledger_service_pb2_grpc

__all__ = ["LEDGER_SERVICE_NAME", "GrpcLedger", "LedgerUnreachable", "Refused"]

LEDGER_SERVICE_NAME = ledger_service_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name
# The ledger takes at most 1,024 statements a call.
MAX_STATEMENTS_PER_CALL = 1024


class LedgerUnreachable(Exception):
    """The call did not get an answer (down, timed out, overloaded)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The ledger answered and refused this statement."""

    code: str
    message: str


class GrpcLedger:
    """RegisterStatements and health checks on one channel to the ledger.

    Args:
        address: host:port of `vconstore ledger serve`.
        timeout: seconds a call may take before it counts as unanswered.
    """

    def __init__(self, address: str, *, timeout: float = 5.0) -> None:
        self._address = address
        self._timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                # Reconnect soon after the ledger comes back rather than after
                # gRPC's default backoff, which grows to two minutes.
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2000),
            ],
        )
        self._ledger = ledger_service_pb2_grpc.LedgerServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    @property
    def address(self) -> str:
        return self._address

    async def register(self, statements: Sequence[bytes]) -> list[bytes | Refused]:
        """One receipt, or the refusal, per statement, in order."""
        if len(statements) > MAX_STATEMENTS_PER_CALL:
            raise ValueError(f"at most {MAX_STATEMENTS_PER_CALL} statements a call")
        try:
            response = await self._ledger.RegisterStatements(
                ledger_service_pb2.RegisterStatementsRequest(signed_statements=statements),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            raise LedgerUnreachable(f"{error.code().name}: {error.details()}") from None
        if len(response.results) != len(statements):
            raise LedgerUnreachable(
                f"the ledger answered {len(response.results)} results for "
                f"{len(statements)} statements"
            )
        outcomes: list[bytes | Refused] = []
        for result in response.results:
            if result.HasField("registration"):
                outcomes.append(result.registration.receipt)
            else:
                code = grpc.StatusCode.UNKNOWN
                for candidate in grpc.StatusCode:
                    if candidate.value[0] == result.error.code:
                        code = candidate
                outcomes.append(Refused(code=code.name, message=result.error.message))
        return outcomes

    async def serving(self) -> bool:
        """Whether the ledger answers its health check with SERVING."""
        try:
            answer = await self._health.Check(
                health_pb2.HealthCheckRequest(service=LEDGER_SERVICE_NAME), timeout=self._timeout
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()
