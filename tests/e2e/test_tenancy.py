"""Organisations and API keys end to end: `vconstore up` and `vconstore
admin create-key` as real processes, real gRPC clients (the SDK), two
organisations side by side, the development key's life, and refusals of the
entry points."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import (
    TEST_KEY,
    ServerProcess,
    create_key_with_cli,
    inprocess_server,
    minimal_vcon,
    start_server_process,
)
from vconstore.keyfiles import DEV_API_KEY_FILE
from vconstore_client import NotFound, PermissionDenied, Unauthenticated, VconstoreClient
from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

UUID = "018f0000-0000-7000-8000-0000000000e1"
T = TypeVar("T")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vconstore", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def test_two_organisations_are_isolated_over_real_grpc(server: ServerProcess) -> None:
    # A second organisation's key, made while the service runs on the same files.
    acme_key = create_key_with_cli(
        server.data_dir, "acme", "vcons:read", "--scopes", "vcons:write,vcons:delete"
    )
    text = json.dumps(minimal_vcon(uuid=UUID, subject="acme's call"))
    async with (
        VconstoreClient(server.address, api_key=acme_key) as acme,
        VconstoreClient(server.address, api_key=server.dev_key) as dev,
    ):
        created = await acme.create_vcon(text)
        assert created.scitt.operation == "register"
        for attempt in (
            dev.get_vcon_json(UUID),
            dev.delete_vcon(UUID),
            _first(dev.scitt_entries(UUID)),
        ):
            with pytest.raises(NotFound):
                await attempt
        assert [s.uuid async for s in dev.list_vcons()] == []
        # The same uuid, another vCon: dev's own, deleted again, acme's intact.
        await dev.create_vcon(json.dumps(minimal_vcon(uuid=UUID, subject="dev's call")))
        assert [s.subject async for s in dev.list_vcons()] == ["dev's call"]
        await dev.delete_vcon(UUID)
        assert json.loads(await acme.get_vcon_json(UUID))["subject"] == "acme's call"
        assert [s.uuid async for s in acme.list_vcons()] == [UUID]
        # acme's key has no keys:admin: it cannot list or make keys.
        with pytest.raises(PermissionDenied) as denied:
            await _first(acme.list_api_keys())
        assert denied.value.metadata["scope"] == "keys:admin"
        # dev's keys are dev's only.
        assert [k.name async for k in dev.list_api_keys()] == ["development key"]
        await acme.delete_vcon(UUID)


async def _first(items: AsyncIterator[T]) -> T | None:
    async for item in items:
        return item
    return None


async def test_a_revoked_key_stops_working_on_its_next_call(server: ServerProcess) -> None:
    async with VconstoreClient(server.address, api_key=server.dev_key) as admin:
        made = await admin.create_api_key("ci", ["vcons:read"])
        async with VconstoreClient(server.address, api_key=made.key) as client:
            assert [s async for s in client.list_vcons()] == []
            await admin.revoke_api_key(made.id)
            with pytest.raises(Unauthenticated) as refused:
                await _first(client.list_vcons())
            assert refused.value.reason == "API_KEY_INVALID"
        listed = [k async for k in admin.list_api_keys()]
        assert [(k.name, k.revoked) for k in listed] == [
            ("development key", False),
            ("ci", True),
        ]


def _downgrade_to_before_api_keys(database: Path) -> None:
    """Schema steps 4 and 5 only added tables (api_keys, vcon_lineage):
    without them, at user_version 3, the file is what a vconstore from before
    API keys left behind."""
    with sqlite3.connect(database) as conn:
        conn.execute("DROP TABLE api_keys")
        conn.execute("DROP TABLE vcon_lineage")
        conn.execute("PRAGMA user_version = 3")


async def test_vcons_stored_before_api_keys_belong_to_the_development_org(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with inprocess_server(data_dir) as (stub, _):
        await stub.CreateVcon(pb.CreateVconRequest(vcon_json=json.dumps(minimal_vcon(uuid=UUID))))
    _downgrade_to_before_api_keys(data_dir / "vconstore.sqlite3")
    upgraded = start_server_process(data_dir)
    try:
        async with VconstoreClient(upgraded.address, api_key=upgraded.dev_key) as client:
            assert json.loads(await client.get_vcon_json(UUID))["uuid"] == UUID
        other = create_key_with_cli(data_dir, "acme", "vcons:read")
        async with VconstoreClient(upgraded.address, api_key=other) as client:
            with pytest.raises(NotFound):
                await client.get_vcon_json(UUID)
    finally:
        assert upgraded.terminate() == 0


def test_the_development_key_is_kept_and_printed_on_every_start(tmp_path: Path) -> None:
    first = start_server_process(tmp_path / "data")
    assert first.terminate() == 0
    second = start_server_process(tmp_path / "data")
    assert second.terminate() == 0
    assert first.dev_key == second.dev_key
    assert (tmp_path / "data" / DEV_API_KEY_FILE).read_text().strip() == first.dev_key
    assert (tmp_path / "data" / DEV_API_KEY_FILE).stat().st_mode & 0o077 == 0


async def test_a_given_development_key_is_used_by_flag_or_environment(tmp_path: Path) -> None:
    by_flag = start_server_process(tmp_path / "a", "--api-key", TEST_KEY)
    try:
        assert by_flag.dev_key == TEST_KEY
        async with VconstoreClient(by_flag.address, api_key=TEST_KEY) as client:
            assert [s async for s in client.list_vcons()] == []
    finally:
        assert by_flag.terminate() == 0
    by_env = start_server_process(tmp_path / "b", env={"VCON_DEV_API_KEY": TEST_KEY})
    assert by_env.dev_key == TEST_KEY
    assert by_env.terminate() == 0
    assert not (tmp_path / "b" / DEV_API_KEY_FILE).exists()


async def test_a_revoked_kept_development_key_is_replaced_at_the_next_start(
    tmp_path: Path,
) -> None:
    first = start_server_process(tmp_path / "data")
    try:
        async with VconstoreClient(first.address, api_key=first.dev_key) as client:
            (own,) = [k async for k in client.list_api_keys()]
            await client.revoke_api_key(own.id)
    finally:
        assert first.terminate() == 0
    second = start_server_process(tmp_path / "data")
    try:
        assert second.dev_key != first.dev_key
        async with VconstoreClient(second.address, api_key=second.dev_key) as client:
            assert [k.revoked async for k in client.list_api_keys()] == [True, False]
    finally:
        assert second.terminate() == 0


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["up", "--port", "0", "--api-key", "vcs_live_sk_short"], {}, "development API key"),
        (["up", "--port", "0"], {"VCON_DEV_API_KEY": "sk-" + "a" * 40}, "development API key"),
        (["serve", "--port", "0", "--ledger-address", "127.0.0.1:1"], {}, "VCON_LEDGER_CREDENTIAL"),
        (["ledger", "serve", "--port", "0"], {}, "VCON_LEDGER_CREDENTIAL"),
        (
            ["ledger", "serve", "--port", "0"],
            {"VCON_LEDGER_CREDENTIAL": "short"},
            "at least 16 visible ASCII characters",
        ),
        (["admin", "create-key", "--org", "acme", "--scopes", "vcons:all"], {}, "unknown scope"),
        (["admin", "create-key", "--org", "ac me", "--scopes", "vcons:read"], {}, "organisation"),
        (["admin", "create-key", "--org", "acme", "--scopes", ","], {}, "no scope given"),
        (["admin", "create-key", "--org", "acme"], {}, "required: --scopes"),
        (["admin", "create-key", "--scopes", "vcons:read"], {}, "required: --org"),
        (["up", "--port", "0"], {"VCON_DEFAULT_ORG": "acme"}, "VCON_DEFAULT_ORG"),
        (
            ["admin", "create-key", "--org", "acme", "--scopes", "vcons:read", "--name", ""],
            {},
            "--name",
        ),
    ],
)
def test_entry_points_refuse_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    done = _run(*args, "--data-dir", str(tmp_path / "data"), env=env)
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("vconstore: ") and said in line, done.stderr
    assert done.stdout == ""
    for name, value in env.items():
        if "KEY" in name or "CREDENTIAL" in name:  # secrets are never echoed
            assert value not in done.stderr


def test_admin_create_key_prints_one_key_that_has_its_scopes(tmp_path: Path) -> None:
    key = create_key_with_cli(
        tmp_path / "data", "acme", "vcons:read,vcons:write", "--scopes", "keys:admin"
    )
    second = create_key_with_cli(tmp_path / "data", "acme", "vcons:read")
    assert key != second
    with sqlite3.connect(tmp_path / "data" / "vconstore.sqlite3") as conn:
        rows = conn.execute(
            "SELECT org, name, prefix, scopes FROM api_keys ORDER BY created_at"
        ).fetchall()
    assert rows == [
        ("acme", "admin", key[:16], "vcons:read,vcons:write,keys:admin"),
        ("acme", "admin", second[:16], "vcons:read"),
    ]


def test_only_up_reads_the_development_key(tmp_path: Path) -> None:
    """A malformed VCON_DEV_API_KEY left in a shared environment stops `up`
    (above), never the production entry points or admin."""
    key = create_key_with_cli(tmp_path / "data", "acme", "vcons:read")
    done = _run(
        *("admin", "create-key", "--org", "acme", "--scopes", "vcons:read"),
        *("--data-dir", str(tmp_path / "data")),
        env={"VCON_DEV_API_KEY": "not-a-key"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != key
