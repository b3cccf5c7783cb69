"""LedgerService over gRPC: wire messages to TransparencyLog calls and back."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, TypeAlias

import grpc

from vconstore.api.errors import to_status
from vconstore.api.rpc import LimitedServicer, rpc
from vconstore.api.wire import timestamp_of
from vconstore.domain.errors import DomainError, InvalidRequest
from vconstore.ledger.keyring import Keyring
from vconstore.ledger.log import TransparencyLog
from vconstore.ledger.sequencer import Registration
from vconstore_client.transparency.merkle import entry_id_of
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc

__all__ = ["LedgerServicer"]

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


# Every entry of a batch shares its registration time: convert it once.
_batch_timestamp = functools.lru_cache(maxsize=64)(timestamp_of)


def _registration(registration: Registration, *, with_statement: bool = True) -> pb.Registration:
    leaf = registration.leaf
    return pb.Registration(
        entry=pb.Entry(
            entry_id=entry_id_of(leaf.leaf_hash),
            leaf_index=leaf.index,
            vcon_uuid=leaf.vcon_uuid,
            operation=leaf.operation,
            signed_statement=leaf.statement if with_statement else b"",
            registered_at=_batch_timestamp(leaf.registered_at),
        ),
        receipt=registration.receipt,
        tree_size=registration.tree_size,
        already_registered=registration.already_registered,
    )


class LedgerServicer(LimitedServicer, ledger_service_pb2_grpc.LedgerServiceServicer):
    def __init__(
        self,
        log: TransparencyLog,
        keyring: Keyring,
        *,
        origin: str,
        max_statements_per_call: int,
        max_in_flight: int = 256,
    ) -> None:
        super().__init__(max_in_flight=max_in_flight)
        self._log = log
        self._keyring = keyring
        self._origin = origin
        self._max_statements = max_statements_per_call

    @rpc
    async def RegisterStatement(
        self, request: pb.RegisterStatementRequest, context: Context
    ) -> pb.RegisterStatementResponse:
        (outcome,) = await self._log.register([request.signed_statement])
        if isinstance(outcome, DomainError):
            raise outcome
        return pb.RegisterStatementResponse(
            registration=_registration(outcome, with_statement=False)
        )

    @rpc
    async def RegisterStatements(
        self, request: pb.RegisterStatementsRequest, context: Context
    ) -> pb.RegisterStatementsResponse:
        statements: Sequence[bytes] = request.signed_statements
        if len(statements) > self._max_statements:
            raise InvalidRequest(
                "signed_statements",
                f"{len(statements)} statements, more than {self._max_statements} in one call",
            )
        response = pb.RegisterStatementsResponse()
        for outcome in await self._log.register(list(statements)):
            if isinstance(outcome, DomainError):
                response.results.add().error.CopyFrom(to_status(outcome))
            else:
                response.results.add().registration.CopyFrom(
                    _registration(outcome, with_statement=False)
                )
        return response

    @rpc
    async def GetEntry(self, request: pb.GetEntryRequest, context: Context) -> pb.GetEntryResponse:
        registration = await self._log.get_entry(request.entry_id)
        return pb.GetEntryResponse(registration=_registration(registration))

    @rpc
    async def ListVconEntries(
        self, request: pb.ListVconEntriesRequest, context: Context
    ) -> pb.ListVconEntriesResponse:
        registrations, token = await self._log.list_vcon_entries(
            request.vcon_uuid, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListVconEntriesResponse(
            registrations=[_registration(r) for r in registrations], next_page_token=token
        )

    @rpc
    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: Context
    ) -> pb.GetInclusionProofResponse:
        proof = await self._log.inclusion_proof(request.entry_id, request.tree_size)
        return pb.GetInclusionProofResponse(
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            hashes=proof.hashes,
            root_hash=proof.root,
        )

    @rpc
    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: Context
    ) -> pb.GetConsistencyProofResponse:
        proof = await self._log.consistency_proof(request.first_tree_size, request.second_tree_size)
        return pb.GetConsistencyProofResponse(
            first_tree_size=proof.first_size,
            second_tree_size=proof.second_size,
            hashes=proof.hashes,
            first_root_hash=proof.first_root,
            second_root_hash=proof.second_root,
        )

    @rpc
    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: Context
    ) -> pb.GetCheckpointResponse:
        head = self._log.head or self._keyring.empty_head
        return pb.GetCheckpointResponse(
            tree_size=head.size,
            root_hash=head.root,
            checkpoint=head.checkpoint,
            signed_at=timestamp_of(head.signed_at),
            origin=self._origin,
        )

    @rpc
    async def ListVerificationKeys(
        self, request: pb.ListVerificationKeysRequest, context: Context
    ) -> pb.ListVerificationKeysResponse:
        return pb.ListVerificationKeysResponse(
            keys=[
                pb.VerificationKey(
                    kid=key.kid_text,
                    pem=key.pem,
                    jwk=json.dumps(key.jwk, separators=(",", ":"), sort_keys=True),
                    current=key.current,
                )
                for key in self._keyring.published
            ]
        )
