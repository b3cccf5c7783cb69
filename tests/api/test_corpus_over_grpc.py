"""Every published vCon of the corpus through CreateVcon over gRPC, each into a
fresh store (some files share uuids): refused precisely, or accepted with the
expected warnings and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
import rfc8785

from tests.corpus_expectations import (
    ASSIGN_UUID,
    Accepted,
    Expectation,
    corpus_files,
    expectation,
    read_corpus_text,
)
from tests.support import bad_request_violations, error_info, inprocess_server
from vconstore.domain.typed import vcon_to_json_value
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

CASES = [(path, False) for path in corpus_files()] + [
    (path, True) for path in corpus_files() if path.name in ASSIGN_UUID
]


def _case_id(case: tuple[Path, bool]) -> str:
    path, assign = case
    return path.stem + ("-assign_uuid" if assign else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
async def test_corpus_file_over_grpc(tmp_path: Path, case: tuple[Path, bool]) -> None:
    path, assign_uuid = case
    text = read_corpus_text(path)
    want: Expectation = expectation(path.name, assign_uuid=assign_uuid)
    request = pb.CreateVconRequest(vcon_json=text, assign_uuid=assign_uuid)
    async with inprocess_server(tmp_path) as (stub, _):
        if not isinstance(want, Accepted):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateVcon(request)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_info(refused.value).reason == want.reason
            violations = bad_request_violations(refused.value)
            for wanted_path, substring in want.violations:
                assert any(p == wanted_path and substring in d for p, d in violations), (
                    wanted_path,
                    substring,
                    violations,
                )
            assert (await stub.ListVcons(pb.ListVconsRequest())).total_size == 0
            return

        created = await stub.CreateVcon(request)
        assert {w.path for w in created.warnings} == {p for p, _ in want.warnings}
        if want.detected_version is not None:
            assert created.detected_version == want.detected_version
        got = await stub.GetVcon(pb.GetVconRequest(uuid=created.uuid))
        assert got.signed is want.signed
        if assign_uuid:
            stored = json.loads(got.vcon_json)
            assert stored.pop("uuid") == created.uuid
            assert rfc8785.dumps(stored) == rfc8785.dumps(json.loads(text))
        else:
            assert got.vcon_json == text  # byte for byte what was sent
        # The typed form carries the same document (the payload, for a JWS).
        document = json.loads(got.vcon_json)
        if want.signed:
            assert got.vcon.uuid.lower() == created.uuid.lower()
        else:
            assert rfc8785.dumps(vcon_to_json_value(got.vcon)) == rfc8785.dumps(document)
        # Strict mode refuses exactly the files that carry warnings.
        strict = pb.CreateVconRequest(vcon_json=text, assign_uuid=assign_uuid, strict=True)
        await stub.DeleteVcon(pb.DeleteVconRequest(uuid=created.uuid))
        if want.warnings:
            with pytest.raises(grpc.aio.AioRpcError) as refused_strict:
                await stub.CreateVcon(strict)
            assert {p for p, _ in bad_request_violations(refused_strict.value)} >= {
                p for p, _ in want.warnings
            }
        else:
            assert (await stub.CreateVcon(strict)).uuid
