"""A person with grpcurl: reflection, health, create and get from a corpus file."""

from __future__ import annotations

import json
import subprocess

from tests.corpus_expectations import CORPUS_DIR, read_corpus_text
from tests.support import ServerProcess


def _bearer(server: ServerProcess) -> list[str]:
    return ["-H", f"authorization: Bearer {server.dev_key}"]


def _grpcurl(grpcurl: str, server: ServerProcess, *args: str, data: str | None = None) -> str:
    command = [grpcurl, "-plaintext", *_bearer(server)]
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
    for method in ("CreateVcon", "GetVcon", "ListVcons", "DeleteVcon", "ListScittEntries"):
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
    # The create's ledger entry, as the seed promises it, in grpcurl's JSON.
    scitt = created["scitt"]
    assert scitt["entry_id"].startswith("sha256:") and len(scitt["entry_id"]) == 71
    assert (scitt["operation"], scitt["signed"], scitt["status"]) == (
        "register",
        True,
        "REGISTERED",
    )
    assert scitt["receipt"]
    got = json.loads(
        _grpcurl(grpcurl, server, "vcon.v1.VconService/GetVcon", data=json.dumps({"uuid": uuid}))
    )
    # Byte for byte what was sent, and the typed form uses the vCon's member names.
    assert got["vcon_json"] == text
    assert got["vcon"]["parties"] == json.loads(text)["parties"]
    listed = json.loads(_grpcurl(grpcurl, server, "vcon.v1.VconService/ListVcons", data="{}"))
    assert [v["uuid"] for v in listed["vcons"]] == [uuid]
    deleted = json.loads(
        _grpcurl(grpcurl, server, "vcon.v1.VconService/DeleteVcon", data=json.dumps({"uuid": uuid}))
    )
    assert deleted["scitt"]["operation"] == "delete"
    history = json.loads(
        _grpcurl(
            grpcurl,
            server,
            "vcon.v1.VconService/ListScittEntries",
            data=json.dumps({"uuid": uuid}),
        )
    )
    assert [(e["operation"], e["status"]) for e in history["entries"]] == [
        ("register", "REGISTERED"),
        ("delete", "REGISTERED"),
    ]
    result = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            *_bearer(server),
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
            *_bearer(server),
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


def test_list_pages_with_filters_in_grpcurl(grpcurl: str, server: ServerProcess) -> None:
    names = [
        "04-draft03-email-multipart-thread.json",
        "05-draft03-email-text-thread.json",
        "13-container02-email-text-thread-v0.0.2.json",
        "19-vcon-info-basic-call-v0.3.0.json",
    ]
    for name in names:
        text = read_corpus_text(CORPUS_DIR / name)
        _grpcurl(
            grpcurl, server, "vcon.v1.VconService/CreateVcon", data=json.dumps({"vcon_json": text})
        )
    # Pages of one, newest first, following next_page_token to the end.
    seen: list[str] = []
    token = ""
    while True:
        page = json.loads(
            _grpcurl(
                grpcurl,
                server,
                "vcon.v1.VconService/ListVcons",
                data=json.dumps({"page_size": 1, "page_token": token}),
            )
        )
        assert int(page["total_size"]) == len(names)
        seen += [v["uuid"] for v in page["vcons"]]
        token = page.get("next_page_token", "")
        if not token:
            break
    # Newest first: 05 and 04 (2026-06-29), 13 (2025-03-02), 19 (2023-12-14).
    assert seen == [
        "019f15a6-ba37-8ed3-b9a2-279e0d16bc46",
        "019f159f-2cfb-8d95-b9a2-279e0d16bc46",
        "0195544a-d292-8cda-b9a2-279e0d16bc46",
        "01987d9a-3db5-7186-b6f7-396adcaf35e2",
    ]
    # A filter in the protobuf JSON form grpcurl speaks, timestamps as RFC 3339.
    by_tel = json.loads(
        _grpcurl(
            grpcurl,
            server,
            "vcon.v1.VconService/ListVcons",
            data=json.dumps({"party_tel": "+1 555 123 4567"}),
        )
    )
    assert [v["uuid"] for v in by_tel["vcons"]] == ["01987d9a-3db5-7186-b6f7-396adcaf35e2"]
    recent = json.loads(
        _grpcurl(
            grpcurl,
            server,
            "vcon.v1.VconService/ListVcons",
            data=json.dumps({"created_after": "2024-01-01T00:00:00Z"}),
        )
    )
    assert [v["uuid"] for v in recent["vcons"]] == seen[:3]


def test_without_a_key_only_health_and_reflection_answer(
    grpcurl: str, server: ServerProcess
) -> None:
    for headers, code, reason in (
        ([], "Unauthenticated", "API_KEY_MISSING"),
        (["-H", "authorization: Bearer not-a-key"], "Unauthenticated", "API_KEY_MALFORMED"),
        (
            ["-H", f"authorization: Bearer {server.dev_key[:-1]}X"],
            "Unauthenticated",
            "API_KEY_INVALID",
        ),
    ):
        result = subprocess.run(
            [
                grpcurl,
                "-plaintext",
                *headers,
                "-d",
                "{}",
                server.address,
                "vcon.v1.VconService/ListVcons",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert code in result.stderr and reason in result.stderr
        assert server.dev_key[12:] not in result.stderr + result.stdout
