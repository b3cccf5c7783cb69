"""Keys and vCon content never reach the logs: a whole run of `vconstore up`
(store and ledger) at debug level, with known keys and a known vCon, refused
calls included, and its log searched afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.support import DEV_KEY_PREFIX, LEDGER_READY_PREFIX, READY_PREFIX
from vconstore.auth.keys import generate_key
from vconstore_client import InvalidArgument, Unauthenticated, VconstoreClient

UUID = "018f0000-0000-7000-8000-00000000c0de"
NAME = "Zebediah Quarrington"
TEL = "+44 7700 900123"
MAILTO = "zebediah@quarrington.example"
SUBJECT = "Mortgage arrears for flat 7b"
BODY = "my account number is 12345678 and sort code 60-16-13"


def _vcon() -> dict[str, object]:
    return {
        "uuid": UUID,
        "created_at": "2026-12-04T09:00:00Z",
        "subject": SUBJECT,
        "parties": [{"name": NAME, "tel": TEL}, {"mailto": MAILTO}],
        "dialog": [
            {
                "type": "text",
                "start": "2026-12-04T09:00:00Z",
                "parties": [0, 1],
                "body": BODY,
                "encoding": "none",
            }
        ],
    }


def _up_logging_to(log_file: Path, data_dir: Path) -> subprocess.Popen[str]:
    """`vconstore up` at debug level (gRPC's own logs too), stderr to a file."""
    with log_file.open("w") as stderr:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "vconstore", "up", "--port", "0"),
                *("--log-level", "debug", "--data-dir", str(data_dir)),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "GRPC_VERBOSITY": "debug"},
        )


async def test_a_debug_run_logs_no_key_and_no_content(tmp_path: Path) -> None:
    log_file = tmp_path / "stderr.log"
    process = _up_logging_to(log_file, tmp_path / "data")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(LEDGER_READY_PREFIX)
        dev_key = process.stdout.readline().removeprefix(DEV_KEY_PREFIX).strip()
        address = process.stdout.readline().removeprefix(READY_PREFIX).strip()
        unknown_key = generate_key()
        secrets = [dev_key, dev_key[12:], dev_key[16:], unknown_key[12:]]
        async with VconstoreClient(address, api_key=dev_key) as client:
            made = await client.create_api_key("worker", ["vcons:read", "vcons:write"])
            secrets += [made.key[12:], made.key[16:]]
            async with VconstoreClient(address, api_key=made.key) as worker:
                await worker.create_vcon(_vcon())
                await worker.get_vcon(UUID)
                assert [s.uuid async for s in worker.list_vcons(None)] == [UUID]
                # A refusal that quotes the vCon to its sender, not to the log.
                with pytest.raises(InvalidArgument):
                    await worker.create_vcon({**_vcon(), "uuid": "x" + NAME})
            await client.delete_vcon(UUID)
            await client.revoke_api_key(made.id)
        for key in (unknown_key, made.key, "vcs_live_sk_" + NAME.replace(" ", "")):
            async with VconstoreClient(address, api_key=key) as stranger:
                with pytest.raises((Unauthenticated, grpc.aio.AioRpcError)):
                    await stranger.get_vcon(UUID)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    logs = log_file.read_text()
    assert '"event": "rpc refused"' in logs  # the log did record the refusals
    assert "API_KEY_INVALID" in logs
    for secret in secrets:
        assert secret not in logs
    for content in (
        NAME,
        "Quarrington",
        TEL,
        "900123",
        MAILTO,
        SUBJECT,
        "arrears",
        BODY,
        "12345678",
    ):
        assert content not in logs, content
