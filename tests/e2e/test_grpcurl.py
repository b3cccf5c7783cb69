"""A person with grpcurl: reflection, health, create and get from a corpus file."""

from __future__ import annotations

import json
import subprocess

from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import ServerProcess


def _grpcurl(grpcurl: str, server: ServerProcess, *args: str, data: str | None = None) -> str:
    command = [grpcurl, "-plaintext"]
    if data is not None:
        command += ["-d", "@"]
    command += [server.address, *args]
    result = subprocess.run(
        command, input=data, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_reflection_lists_the_services(grpcurl: str, server: ServerProcess) -> None:
    services = _grpcurl(grpcurl, server, "list").split()
    assert "vcon.v1.VconService" in services
    assert "grpc.health.v1.Health" in services


def test_reflection_describes_the_vcon_methods(grpcurl: str, server: ServerProcess) -> None:
    described = _grpcurl(grpcurl, server, "describe", "vcon.v1.VconService")
    for method in ("CreateVcon", "GetVcon", "ListVcons", "DeleteVcon"):
        assert f"rpc {method}" in described


def test_health_check_reports_serving(grpcurl: str, server: ServerProcess) -> None:
    answer = json.loads(_grpcurl(grpcurl, server, "grpc.health.v1.Health/Check"))
    assert answer == {"status": "SERVING"}
    named = json.loads(
        _grpcurl(
            grpcurl,
            server,
            "grpc.health.v1.Health/Check",
            data='{"service": "vcon.v1.VconService"}',
        )
    )
    assert named == {"status": "SERVING"}


def test_create_from_a_corpus_file_then_get_and_delete(grpcurl: str, server: ServerProcess) -> None:
    text = read_corpus_text(CORPUS_DIR / "04-draft03-email-multipart-thread.json")
    created = json.loads(
        _grpcurl(
            grpcurl, server, "vcon.v1.VconService/CreateVcon", data=json.dumps({"vcon_json": text})
        )
    )
    uuid = json.loads(text)["uuid"]
    assert created["uuid"] == uuid
    got = json.loads(
        _grpcurl(grpcurl, server, "vcon.v1.VconService/GetVcon", data=json.dumps({"uuid": uuid}))
    )
    # Byte for byte what was sent, and the typed form uses the vCon's member names.
    assert got["vcon_json"] == text
    assert got["vcon"]["parties"] == json.loads(text)["parties"]
    listed = json.loads(_grpcurl(grpcurl, server, "vcon.v1.VconService/ListVcons", data="{}"))
    assert [v["uuid"] for v in listed["vcons"]] == [uuid]
    _grpcurl(grpcurl, server, "vcon.v1.VconService/DeleteVcon", data=json.dumps({"uuid": uuid}))
    result = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-d",
            json.dumps({"uuid": uuid}),
            server.address,
            "vcon.v1.VconService/GetVcon",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "NotFound" in result.stderr


def test_refusal_is_readable_in_grpcurl(grpcurl: str, server: ServerProcess) -> None:
    bad = {"uuid": "not-a-uuid", "parties": []}
    result = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-d",
            json.dumps({"vcon_json": json.dumps(bad)}),
            server.address,
            "vcon.v1.VconService/CreateVcon",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr
    assert "uuid" in result.stderr and "parties" in result.stderr
