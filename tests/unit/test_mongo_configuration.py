"""Selecting MongoDB and its knobs: settings, CLI, URI precedence, the real
client's resulting options (built without any I/O), and credential hygiene."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import WriteConcern

from vconstore import cli
from vconstore.config import Settings
from vconstore.server import describe_storage, mongo_options, open_repository
from vconstore.storage.mongo import DEFAULT_CLIENT_OPTIONS, MongoOptions, connect, describe_uri
from vconstore.storage.mongo.options import redact, uri_option_names
from vconstore.storage.sqlite import SqliteVconRepository

URI = "mongodb://app:s3cret-pw@db1.example:27017,db2.example/?replicaSet=rs0"


def test_unset_uri_selects_sqlite_and_a_uri_selects_mongodb(tmp_path: Path) -> None:
    from vconstore.storage.mongo import MongoVconRepository

    assert isinstance(open_repository(Settings(data_dir=tmp_path)), SqliteVconRepository)
    chosen = open_repository(Settings(data_dir=tmp_path, mongodb_uri=URI))
    assert isinstance(chosen, MongoVconRepository)
    assert (chosen.options.uri, chosen.options.database) == (URI, "vconstore")


def test_every_knob_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "VCON_MONGODB_URI": URI,
        "VCON_MONGODB_DATABASE": "vcons_prod",
        "VCON_MONGODB_SERVER_SELECTION_TIMEOUT_MS": "1500",
        "VCON_MONGODB_CONNECT_TIMEOUT_MS": "2500",
        "VCON_MONGODB_SOCKET_TIMEOUT_MS": "0",
        "VCON_MONGODB_MAX_POOL_SIZE": "20",
        "VCON_MONGODB_WRITE_CONCERN": "2",
        "VCON_MONGODB_JOURNAL": "false",
        "VCON_MONGODB_WRITE_TIMEOUT_MS": "750",
    }.items():
        monkeypatch.setenv(name, value)

    options = mongo_options(Settings.from_env())

    assert options == MongoOptions(
        uri=URI,
        database="vcons_prod",
        server_selection_timeout_ms=1500,
        connect_timeout_ms=2500,
        socket_timeout_ms=0,
        max_pool_size=20,
        write_concern="2",
        journal=False,
        write_timeout_ms=750,
    )
    assert options.client_kwargs() | {"appname": "x"} == {
        "serverSelectionTimeoutMS": 1500,
        "connectTimeoutMS": 2500,
        "socketTimeoutMS": 0,
        "maxPoolSize": 20,
        "w": 2,
        "journal": False,
        "wTimeoutMS": 750,
        "appname": "x",
    }


def test_an_empty_environment_leaves_mongodb_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCON_MONGODB_URI", "  ")
    settings = Settings.from_env()
    assert settings.mongodb_uri is None
    assert settings.mongodb_database == "vconstore"
    assert settings.mongodb_server_selection_timeout_ms is None


def test_the_cli_flag_selects_mongodb(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    async def fake_up(settings: Settings, *, requested_ledger_port: int | None) -> None:
        seen.append(settings)

    monkeypatch.delenv("VCON_MONGODB_URI", raising=False)
    monkeypatch.setattr("vconstore.up.up", fake_up)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)

    cli.main(["up", "--mongodb-uri", URI, "--mongodb-database", "other"])

    assert [(s.mongodb_uri, s.mongodb_database) for s in seen] == [(URI, "other")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mongodb_write_concern": "0"}, "acknowledge"),
        ({"mongodb_write_concern": " "}, "acknowledge"),
        ({"mongodb_server_selection_timeout_ms": -1}, "negative"),
        ({"mongodb_max_pool_size": -3}, "negative"),
        ({"mongodb_database": ""}, "empty"),
    ],
)
def test_unusable_knobs_are_refused_at_startup(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        Settings(**changes)  # type: ignore[arg-type]


def test_defaults_apply_when_neither_knob_nor_uri_sets_an_option() -> None:
    assert MongoOptions(uri="mongodb://h/").client_kwargs() == DEFAULT_CLIENT_OPTIONS


def test_the_uri_beats_the_defaults_and_a_knob_beats_the_uri() -> None:
    uri = "mongodb://h/?serverSelectionTimeoutMS=500&w=1&j=false;maxPoolSize=7"
    from_uri = MongoOptions(uri=uri).client_kwargs()
    for name in ("serverSelectionTimeoutMS", "w", "journal", "maxPoolSize"):
        assert name not in from_uri  # left to the URI
    assert from_uri["connectTimeoutMS"] == DEFAULT_CLIENT_OPTIONS["connectTimeoutMS"]

    knobs = MongoOptions(uri=uri, server_selection_timeout_ms=900, write_concern="majority")
    assert (knobs.client_kwargs()["serverSelectionTimeoutMS"], knobs.client_kwargs()["w"]) == (
        900,
        "majority",
    )
    assert uri_option_names(uri) == {
        "serverselectiontimeoutms",
        "w",
        "j",
        "journal",
        "maxpoolsize",
    }


async def test_the_real_client_gets_majority_journaled_writes_and_our_timeouts() -> None:
    client = connect(MongoOptions(uri="mongodb://127.0.0.1:1/"))
    try:
        assert client.write_concern == WriteConcern(w="majority", j=True, wtimeout=10_000)
        assert client.options.server_selection_timeout == 5.0
        assert client.options.pool_options.max_pool_size == 100
        assert client.options.pool_options.connect_timeout == 5.0
        assert client.options.pool_options.socket_timeout == 30.0
    finally:
        await client.close()


async def test_the_real_client_keeps_a_timeout_set_in_the_uri() -> None:
    client = connect(MongoOptions(uri="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500&w=1"))
    try:
        assert client.options.server_selection_timeout == 0.5
        assert client.write_concern.document["w"] == 1
    finally:
        await client.close()


def test_credentials_never_reach_descriptions_or_reprs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, mongodb_uri=URI)
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(mongo_options(settings))
    assert describe_storage(settings) == (
        "mongodb mongodb://db1.example:27017,db2.example database=vconstore"
    )
    assert describe_storage(Settings(data_dir=tmp_path)).startswith("sqlite ")
    assert describe_uri("mongodb+srv://u:p%40ss@cluster0.example.net/db?tls=true") == (
        "mongodb+srv://cluster0.example.net"
    )
    assert describe_uri("mongodb://u:a/b@c@h1:1/db") == "mongodb://h1:1"


def test_redact_withholds_messages_quoting_any_part_of_the_credentials() -> None:
    uri = "mongodb://app:pa55/w0rd@h/?tlsCertificateKeyFilePassword=k3y-pw"
    assert redact("Port contains non-digit characters", uri) == (
        "Port contains non-digit characters"
    )
    for leak in ('Bad database name "w0rd@h/"', "password k3y-pw is wrong"):
        assert "w0rd" not in redact(leak, uri) and "k3y" not in redact(leak, uri)


async def test_a_malformed_uri_stops_startup_with_a_clean_message(tmp_path: Path) -> None:
    from vconstore.server import create_server

    settings = Settings(port=0, data_dir=tmp_path, mongodb_uri="mongodb://app:s3cret-pw@h:port/")
    with pytest.raises(SystemExit) as stopped:
        await create_server(settings)
    message = str(stopped.value.code)
    assert message.startswith("vconstore: invalid MongoDB configuration for mongodb://h:port")
    assert "s3cret" not in message
