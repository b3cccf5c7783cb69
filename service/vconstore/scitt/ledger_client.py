"""The ledger process over gRPC: the registrar's one way to reach it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2, ledger_service_pb2_grpc

__all__ = ["LEDGER_SERVICE_NAME", "GrpcLedger", "LedgerUnreachable", "Refused", "outcome_of"]

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


_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def outcome_of(result: ledger_service_pb2.RegistrationResult) -> bytes | Refused:
    """A receipt or a refusal; an answer that is neither is not an answer
    (LedgerUnreachable), so nothing without a receipt is ever taken as one."""
    which = result.WhichOneof("result")
    if which == "registration" and result.registration.receipt:
        return result.registration.receipt
    if which == "error" and result.error.code != 0:
        return Refused(
            code=_CODE_NAMES.get(result.error.code, "UNKNOWN"), message=result.error.message
        )
    raise LedgerUnreachable("the ledger answered a result with neither a receipt nor a refusal")


class GrpcLedger:
    """RegisterStatements and health checks on one channel to the ledger.

    Args:
        address: host:port of `vconstore ledger serve`.
        timeout: seconds a call may take before it counts as unanswered.
        credential: the secret the ledger demands on its register RPCs,
            sent as `authorization: Bearer <credential>`.
    """

    def __init__(
        self, address: str, *, timeout: float = 5.0, credential: str | None = None
    ) -> None:
        self._address = address
        self._timeout = timeout
        self._metadata = () if credential is None else (("authorization", f"Bearer {credential}"),)
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
                metadata=self._metadata,
            )
        except grpc.aio.AioRpcError as error:
            raise LedgerUnreachable(f"{error.code().name}: {error.details()}") from None
        except Exception as error:  # a closed channel, a broken answer: never a crash
            raise LedgerUnreachable(f"{type(error).__name__} calling the ledger") from None
        if len(response.results) != len(statements):
            raise LedgerUnreachable(
                f"the ledger answered {len(response.results)} results for "
                f"{len(statements)} statements"
            )
        return [outcome_of(result) for result in response.results]

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
