"""LedgerService over real gRPC (in process, real storage): registration,
refusals, entries, proofs at every size, checkpoints, keys, restarts.
Every receipt is checked with the client package's verifier and the public
key the ledger publishes, nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from tests.contract.mongo_setup import mongo_database
from tests.support import ISSUER, LedgerUnderTest, error_info, inprocess_ledger
from vconstore.config import Settings
from vconstore.ledger.config import LedgerSettings
from vconstore.ledger.ports import LedgerRepository
from vconstore.ledger.server import open_ledger_repository
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import OperationRecord, make_statement
from vconstore_client.transparency import (
    VerificationError,
    leaf_hash,
    verify_checkpoint,
    verify_checkpoint_consistency,
    verify_consistency_proof,
    verify_inclusion_proof,
    verify_receipt,
)
from vconstore_client.transparency.keys import public_key_from_jwk, public_key_from_pem
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc

ORG = "a" * 64
VCON = "018f0000-0000-7000-8000-{:012x}"


def record(n: int, operation: str = "register", **changes: object) -> OperationRecord:
    fields: dict[str, object] = {
        "operation": operation,
        "vcon_uuid": VCON.format(n),
        "org": ORG,
        "content_hash": "sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
        "issued_at": datetime(2026, 11, 25, 12, 0, n % 60, tzinfo=UTC),
    }
    fields.update(changes)
    return OperationRecord(**fields)  # type: ignore[arg-type]


def statement(key: SigningKey, n: int, operation: str = "register") -> bytes:
    return make_statement(record(n, operation), key, ISSUER)


RepositoryFactory = Callable[[Settings], LedgerRepository]


@pytest.fixture(params=["sqlite", "mongo"])
async def open_ledger(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryFactory]:
    """Makes repositories of ONE backend and place, so a restart reopens the
    same log (SQLite in the ledger's data dir; a fresh MongoDB database)."""
    if request.param == "sqlite":
        yield open_ledger_repository
        return
    from vconstore.ledger.storage.mongo import MongoLedgerRepository

    async with mongo_database() as mongo:
        yield lambda settings: MongoLedgerRepository(
            mongo.options, client_factory=mongo.client_factory
        )


def ledger_at(
    tmp_path: Path, factory: RepositoryFactory, key: SigningKey
) -> AbstractAsyncContextManager[LedgerUnderTest]:
    return inprocess_ledger(tmp_path / "ledger", key, repository_factory=factory)


async def ledger_key(stub: ledger_service_pb2_grpc.LedgerServiceStub) -> EllipticCurvePublicKey:
    """The current key as the ledger publishes it; PEM and JWK must agree."""
    keys = (await stub.ListVerificationKeys(pb.ListVerificationKeysRequest())).keys
    current = [k for k in keys if k.current]
    assert len(current) == 1
    from_pem = public_key_from_pem(current[0].pem)
    from_jwk = public_key_from_jwk(json.loads(current[0].jwk))
    assert from_pem.public_numbers() == from_jwk.public_numbers()
    return from_pem


async def test_register_answers_a_receipt_that_verifies_with_the_public_key_alone(
    tmp_path: Path, open_ledger: RepositoryFactory
) -> None:
    issuer = SigningKey.generate()
    async with ledger_at(tmp_path, open_ledger, issuer) as ledger:
        raw = statement(issuer, 1)
        answer = await ledger.stub.RegisterStatement(
            pb.RegisterStatementRequest(signed_statement=raw)
        )
        registration = answer.registration
        assert registration.entry.entry_id == "sha256:" + leaf_hash(raw).hex()
        assert registration.entry.leaf_index == 0
        assert registration.entry.vcon_uuid == VCON.format(1)
        assert registration.entry.operation == "register"
        # The caller sent the statement: the answer does not carry it back...
        assert registration.entry.signed_statement == b""
        # ...but the entry holds it.
        got = await ledger.stub.GetEntry(pb.GetEntryRequest(entry_id=registration.entry.entry_id))
        assert got.registration.entry.signed_statement == raw
        assert not registration.already_registered
        key = await ledger_key(ledger.stub)
        verified = verify_receipt(registration.receipt, key, statement=raw)
        assert (verified.tree_size, verified.leaf_index) == (registration.tree_size, 0)

        again = await ledger.stub.RegisterStatement(
            pb.RegisterStatementRequest(signed_statement=raw)
        )
        assert again.registration.already_registered
        assert again.registration.entry == registration.entry
        assert again.registration.receipt == registration.receipt
        checkpoint = await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())
        assert checkpoint.tree_size == 1


async def test_every_byte_of_a_live_receipt_matters(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        raws = [statement(issuer, n) for n in range(5)]
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=raws)
        )
        key = await ledger_key(ledger.stub)
        receipt = answer.results[3].registration.receipt
        verify_receipt(receipt, key, statement=raws[3])
        for position in range(len(receipt)):
            tampered = bytearray(receipt)
            tampered[position] ^= 0x01
            with pytest.raises(VerificationError):
                verify_receipt(bytes(tampered), key, statement=raws[3])
        with pytest.raises(VerificationError):
            verify_receipt(receipt, key, statement=raws[2])
        with pytest.raises(VerificationError):
            verify_receipt(receipt, SigningKey.generate().public_key, statement=raws[3])


async def test_a_batch_answers_in_order_with_each_refusal_in_place(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    stranger = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        good = statement(issuer, 1)
        forged = bytearray(statement(issuer, 2))
        forged[-1] ^= 0x01
        batch = [
            good,
            b"\x01not cbor",
            statement(stranger, 3),
            bytes(forged),
            good,
            b"",
        ]
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=batch)
        )
        kinds = [result.WhichOneof("result") for result in answer.results]
        assert kinds == ["registration", "error", "error", "error", "registration", "error"]
        codes = [r.error.code for r in answer.results if r.WhichOneof("result") == "error"]
        invalid, denied = (
            grpc.StatusCode.INVALID_ARGUMENT.value[0],
            (grpc.StatusCode.PERMISSION_DENIED.value[0]),
        )
        assert codes == [invalid, denied, denied, invalid]
        assert "not trusted" in answer.results[2].error.message
        assert "does not verify" in answer.results[3].error.message
        first, repeat = answer.results[0].registration, answer.results[4].registration
        assert first.entry == repeat.entry and repeat.already_registered
        assert (await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())).tree_size == 1


async def test_single_refusals_name_their_reason(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await ledger.stub.RegisterStatement(
                pb.RegisterStatementRequest(signed_statement=b"\xd2\x84")
            )
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(malformed.value).reason == "STATEMENT_MALFORMED"
        with pytest.raises(grpc.aio.AioRpcError) as untrusted:
            await ledger.stub.RegisterStatement(
                pb.RegisterStatementRequest(signed_statement=statement(SigningKey.generate(), 1))
            )
        assert untrusted.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "not trusted" in (untrusted.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await ledger.stub.RegisterStatements(
                pb.RegisterStatementsRequest(signed_statements=[b"x"] * 1025)
            )
        assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_entry_and_list_a_vcons_entries(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        mine = [
            make_statement(record(7, op), issuer, ISSUER) for op in ("register", "amend", "delete")
        ]
        others = [statement(issuer, n) for n in range(20, 25)]
        for raw in (mine[0], *others[:2], mine[1], *others[2:], mine[2]):
            await ledger.stub.RegisterStatement(pb.RegisterStatementRequest(signed_statement=raw))
        key = await ledger_key(ledger.stub)

        entry_id = "sha256:" + leaf_hash(mine[1]).hex()
        got = await ledger.stub.GetEntry(pb.GetEntryRequest(entry_id=entry_id))
        assert got.registration.entry.operation == "amend"
        verify_receipt(got.registration.receipt, key, statement=mine[1])

        first = await ledger.stub.ListVconEntries(
            pb.ListVconEntriesRequest(vcon_uuid=VCON.format(7), page_size=2)
        )
        assert [r.entry.operation for r in first.registrations] == ["register", "amend"]
        assert first.next_page_token
        rest = await ledger.stub.ListVconEntries(
            pb.ListVconEntriesRequest(
                vcon_uuid=VCON.format(7), page_size=2, page_token=first.next_page_token
            )
        )
        assert [r.entry.operation for r in rest.registrations] == ["delete"]
        assert rest.next_page_token == ""
        for registration in (*first.registrations, *rest.registrations):
            verify_receipt(registration.receipt, key, statement=registration.entry.signed_statement)

        with pytest.raises(grpc.aio.AioRpcError) as other_vcon:
            await ledger.stub.ListVconEntries(
                pb.ListVconEntriesRequest(
                    vcon_uuid=VCON.format(20), page_token=first.next_page_token
                )
            )
        assert other_vcon.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await ledger.stub.GetEntry(pb.GetEntryRequest(entry_id="sha256:" + "0" * 64))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await ledger.stub.GetEntry(pb.GetEntryRequest(entry_id="sha256:XYZ"))
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_proofs_hold_at_every_older_tree_size(
    tmp_path: Path, open_ledger: RepositoryFactory
) -> None:
    """Not only the latest size: an existing SCITT server for vCons gets the
    older ones wrong."""
    issuer = SigningKey.generate()
    async with ledger_at(tmp_path, open_ledger, issuer) as ledger:
        raws = [statement(issuer, n) for n in range(13)]
        # Batches of different sizes, so heads fall at irregular sizes.
        for chunk in (raws[:1], raws[1:4], raws[4:5], raws[5:11], raws[11:]):
            await ledger.stub.RegisterStatements(
                pb.RegisterStatementsRequest(signed_statements=chunk)
            )
        size = len(raws)
        roots: dict[int, bytes] = {}
        for index, raw in enumerate(raws):
            entry_id = "sha256:" + leaf_hash(raw).hex()
            for tree_size in range(index + 1, size + 1):
                proof = await ledger.stub.GetInclusionProof(
                    pb.GetInclusionProofRequest(entry_id=entry_id, tree_size=tree_size)
                )
                assert (proof.leaf_index, proof.tree_size) == (index, tree_size)
                verify_inclusion_proof(
                    leaf_hash(raw), index, tree_size, list(proof.hashes), proof.root_hash
                )
                assert roots.setdefault(tree_size, proof.root_hash) == proof.root_hash
        for first in range(1, size + 1):
            for second in range(first, size + 1):
                proof = await ledger.stub.GetConsistencyProof(
                    pb.GetConsistencyProofRequest(first_tree_size=first, second_tree_size=second)
                )
                assert (proof.first_root_hash, proof.second_root_hash) == (
                    roots[first],
                    roots[second],
                )
                verify_consistency_proof(
                    first, second, roots[first], roots[second], list(proof.hashes)
                )


async def test_sizes_out_of_range(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        raws = [statement(issuer, n) for n in range(3)]
        await ledger.stub.RegisterStatements(pb.RegisterStatementsRequest(signed_statements=raws))
        entry_id = "sha256:" + leaf_hash(raws[2]).hex()
        cases = [
            (
                ledger.stub.GetInclusionProof,
                pb.GetInclusionProofRequest(entry_id=entry_id, tree_size=4),
                grpc.StatusCode.OUT_OF_RANGE,
            ),
            (
                ledger.stub.GetInclusionProof,
                pb.GetInclusionProofRequest(entry_id=entry_id, tree_size=2),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                ledger.stub.GetConsistencyProof,
                pb.GetConsistencyProofRequest(first_tree_size=1, second_tree_size=9),
                grpc.StatusCode.OUT_OF_RANGE,
            ),
            (
                ledger.stub.GetConsistencyProof,
                pb.GetConsistencyProofRequest(first_tree_size=5),
                grpc.StatusCode.OUT_OF_RANGE,
            ),
            (
                ledger.stub.GetConsistencyProof,
                pb.GetConsistencyProofRequest(first_tree_size=0, second_tree_size=2),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                ledger.stub.GetConsistencyProof,
                pb.GetConsistencyProofRequest(first_tree_size=3, second_tree_size=2),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ]
        for method, request, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await method(request)
            assert refused.value.code() == code, request
        latest = await ledger.stub.GetInclusionProof(pb.GetInclusionProofRequest(entry_id=entry_id))
        assert latest.tree_size == 3


async def test_checkpoints_are_signed_notes_of_the_latest_tree(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        key = await ledger_key(ledger.stub)
        empty = await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())
        assert empty.tree_size == 0
        assert verify_checkpoint(empty.checkpoint, key, origin=empty.origin).size == 0
        raws = [statement(issuer, n) for n in range(4)]
        await ledger.stub.RegisterStatements(pb.RegisterStatementsRequest(signed_statements=raws))
        latest = await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())
        checkpoint = verify_checkpoint(latest.checkpoint, key, origin=latest.origin)
        assert (checkpoint.size, checkpoint.root) == (4, latest.root_hash)
        proof = await ledger.stub.GetInclusionProof(
            pb.GetInclusionProofRequest(entry_id="sha256:" + leaf_hash(raws[0]).hex())
        )
        assert proof.root_hash == latest.root_hash


async def test_concurrent_registrations_share_batches_and_all_verify(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        raws = [statement(issuer, n) for n in range(120)]
        answers = await asyncio.gather(
            *(
                ledger.stub.RegisterStatement(pb.RegisterStatementRequest(signed_statement=raw))
                for raw in raws
            )
        )
        indices = sorted(a.registration.entry.leaf_index for a in answers)
        assert indices == list(range(120))
        key = await ledger_key(ledger.stub)
        for raw, answer in zip(raws, answers, strict=True):
            verify_receipt(answer.registration.receipt, key, statement=raw)
        # Fewer signed heads than statements: batching happened.
        assert len({a.registration.tree_size for a in answers}) < 120


async def test_a_restart_resumes_the_same_tree(
    tmp_path: Path, open_ledger: RepositoryFactory
) -> None:
    issuer = SigningKey.generate()
    first = [statement(issuer, n) for n in range(6)]
    async with ledger_at(tmp_path, open_ledger, issuer) as ledger:
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=first)
        )
        old_receipts = [r.registration.receipt for r in answer.results]
        before = await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())
    async with ledger_at(tmp_path, open_ledger, issuer) as ledger:
        again = await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())
        assert (again.tree_size, again.root_hash) == (before.tree_size, before.root_hash)
        more = [statement(issuer, n) for n in range(6, 9)]
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=more)
        )
        assert [r.registration.entry.leaf_index for r in answer.results] == [6, 7, 8]
        key = await ledger_key(ledger.stub)
        for raw, receipt in zip(first, old_receipts, strict=True):
            verify_receipt(receipt, key, statement=raw)
        proof = await ledger.stub.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first_tree_size=6)
        )
        verify_consistency_proof(6, 9, before.root_hash, proof.second_root_hash, list(proof.hashes))


async def test_a_rotated_key_keeps_old_receipts_verifiable(tmp_path: Path) -> None:
    issuer = SigningKey.generate()
    old_key_file = tmp_path / "old-key.pem"
    new_key_file = tmp_path / "new-key.pem"
    old = SigningKey.load_or_generate(old_key_file)
    new = SigningKey.load_or_generate(new_key_file)
    raw_old, raw_new = statement(issuer, 1), statement(issuer, 2)
    async with inprocess_ledger(
        tmp_path / "ledger", issuer, ledger_settings=LedgerSettings(key_file=old_key_file)
    ) as ledger:
        old_receipt = (
            await ledger.stub.RegisterStatement(
                pb.RegisterStatementRequest(signed_statement=raw_old)
            )
        ).registration.receipt
    rotated = LedgerSettings(key_file=new_key_file, retired_key_files=(old_key_file,))
    async with inprocess_ledger(tmp_path / "ledger", issuer, ledger_settings=rotated) as ledger:
        listed = (await ledger.stub.ListVerificationKeys(pb.ListVerificationKeysRequest())).keys
        assert [(k.kid, k.current) for k in listed] == [(new.kid_text, True), (old.kid_text, False)]
        retired = public_key_from_pem(listed[1].pem)
        assert retired.public_numbers() == old.public_key.public_numbers()
        new_receipt = (
            await ledger.stub.RegisterStatement(
                pb.RegisterStatementRequest(signed_statement=raw_new)
            )
        ).registration.receipt
        by_kid = {old.kid: old.public_key, new.kid: new.public_key}
        assert verify_receipt(old_receipt, by_kid, statement=raw_old).kid == old.kid
        assert verify_receipt(new_receipt, by_kid, statement=raw_new).kid == new.kid
        # GetEntry still answers the receipt signed when the entry was registered.
        got = await ledger.stub.GetEntry(
            pb.GetEntryRequest(entry_id="sha256:" + leaf_hash(raw_old).hex())
        )
        assert verify_receipt(got.registration.receipt, by_kid, statement=raw_old).kid == old.kid


async def test_an_auditor_checks_every_pair_of_checkpoints_it_saw(tmp_path: Path) -> None:
    """Checkpoints fetched as the log grows are pairwise consistent, shown by
    the client's verifier from the two signed notes and GetConsistencyProof
    alone; a wrong pair, a tampered proof or another key is refused."""
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        key = await ledger_key(ledger.stub)
        seen = [(await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint]
        for start, count in ((0, 1), (1, 3), (4, 4), (8, 5)):
            raws = [statement(issuer, n) for n in range(start, start + count)]
            await ledger.stub.RegisterStatements(
                pb.RegisterStatementsRequest(signed_statements=raws)
            )
            seen.append((await ledger.stub.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint)
        sizes = [0, 1, 4, 8, 13]
        for i, older in enumerate(seen):
            for newer, newer_size in zip(seen[i:], sizes[i:], strict=True):
                hashes: list[bytes] = []
                if sizes[i]:
                    proof = await ledger.stub.GetConsistencyProof(
                        pb.GetConsistencyProofRequest(
                            first_tree_size=sizes[i], second_tree_size=newer_size
                        )
                    )
                    hashes = list(proof.hashes)
                first, second = verify_checkpoint_consistency(older, newer, hashes, key)
                assert (first.size, second.size) == (sizes[i], newer_size)

        proof = await ledger.stub.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first_tree_size=4, second_tree_size=13)
        )
        good = list(proof.hashes)
        verify_checkpoint_consistency(seen[2], seen[4], good, key)
        with pytest.raises(VerificationError):
            verify_checkpoint_consistency(seen[4], seen[2], good, key)  # newer first
        with pytest.raises(VerificationError):
            verify_checkpoint_consistency(seen[3], seen[4], good, key)  # proof of another pair
        tampered = [good[0][:-1] + bytes([good[0][-1] ^ 1]), *good[1:]]
        with pytest.raises(VerificationError):
            verify_checkpoint_consistency(seen[2], seen[4], tampered, key)
        with pytest.raises(VerificationError):
            verify_checkpoint_consistency(seen[2], seen[4], good, SigningKey.generate().public_key)


async def test_registration_survives_a_killed_checking_worker(tmp_path: Path) -> None:
    """Statements are checked in worker processes; if one dies, new workers
    take over and the registrations in flight are checked again."""
    issuer = SigningKey.generate()
    async with inprocess_ledger(
        tmp_path / "ledger", issuer, ledger_settings=LedgerSettings(verify_workers=1)
    ) as ledger:
        first = statement(issuer, 1)
        await ledger.stub.RegisterStatement(pb.RegisterStatementRequest(signed_statement=first))
        executor = ledger.running.admission._executor
        assert isinstance(executor, ProcessPoolExecutor)
        for process in list(executor._processes.values()):
            process.kill()
            process.join()
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=[statement(issuer, n) for n in (2, 3)])
        )
        assert [r.registration.entry.leaf_index for r in answer.results] == [1, 2]
        assert ledger.running.admission._executor is not executor  # the pool was replaced


async def test_a_statement_is_checked_once_however_often_it_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = SigningKey.generate()
    async with inprocess_ledger(tmp_path / "ledger", issuer) as ledger:
        admission = ledger.running.admission
        checked: list[bytes] = []
        original = admission.check

        async def counting(raws: list[bytes]) -> list[object]:
            checked.extend(raws)
            return await original(raws)  # type: ignore[return-value]

        monkeypatch.setattr(admission, "check", counting)
        one, two = statement(issuer, 1), statement(issuer, 2)
        answer = await ledger.stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=[one, two, one, one, two])
        )
        entries = [r.registration.entry.leaf_index for r in answer.results]
        assert entries == [0, 1, 0, 0, 1]
        assert [r.registration.already_registered for r in answer.results] == [
            False,
            False,
            True,
            True,
            True,
        ]
        await ledger.stub.RegisterStatement(pb.RegisterStatementRequest(signed_statement=one))
        assert sorted(checked) == sorted([one, two])  # never verified twice


async def test_a_ledger_refuses_to_extend_a_log_signed_by_a_key_it_does_not_publish(
    tmp_path: Path,
) -> None:
    """A lost or replaced key file would leave earlier receipts unverifiable."""
    issuer = SigningKey.generate()
    old_key_file, new_key_file = tmp_path / "old.pem", tmp_path / "new.pem"
    old = SigningKey.load_or_generate(old_key_file)
    SigningKey.load_or_generate(new_key_file)
    async with inprocess_ledger(
        tmp_path / "ledger", issuer, ledger_settings=LedgerSettings(key_file=old_key_file)
    ) as ledger:
        await ledger.stub.RegisterStatement(
            pb.RegisterStatementRequest(signed_statement=statement(issuer, 1))
        )
    with pytest.raises(SystemExit, match=old.kid_text):
        async with inprocess_ledger(
            tmp_path / "ledger", issuer, ledger_settings=LedgerSettings(key_file=new_key_file)
        ):
            pass
