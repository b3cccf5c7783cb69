"""Start-up refuses what cannot work, with one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import inprocess_server
from vconstore.config import Settings
from vconstore.keyfiles import load_issuer_key, load_page_token_key
from vconstore.server import create_server


async def test_a_taken_port_is_refused(tmp_path: Path) -> None:
    async with inprocess_server(tmp_path / "a") as (_, running):
        settings = Settings(host="127.0.0.1", port=running.port, data_dir=tmp_path / "b")
        with pytest.raises(SystemExit) as refused:
            await create_server(settings)
        assert f"cannot listen on 127.0.0.1:{running.port}" in str(refused.value)


async def test_an_unusable_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        await create_server(Settings(host="256.1.1.1", port=0, data_dir=tmp_path))
    assert "cannot listen on 256.1.1.1:0" in str(refused.value)


async def test_a_missing_trust_anchor_bundle_is_refused(tmp_path: Path) -> None:
    settings = Settings(port=0, data_dir=tmp_path, jws_trust_anchors=tmp_path / "none.pem")
    with pytest.raises(SystemExit) as refused:
        await create_server(settings)
    assert "VCON_JWS_TRUST_ANCHORS" in str(refused.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"log_level": "verbose"},
        {"shutdown_grace_seconds": -5.0},
        {"max_request_bytes": 99_999_999_999},
        {"max_concurrent_rpcs": 0},
        {"max_depth": 40},
        {"scitt_wait_seconds": float("nan")},
        {"scitt_wait_seconds": float("inf")},
        {"scitt_wait_seconds": -1.0},
        {"scitt_wait_seconds": 3600.0},
        {"ledger_timeout_seconds": 0.0},
        {"scitt_retry_max_seconds": float("nan")},
        {"metrics_port": -5},
        {"metrics_port": 70000},
        {"metrics_port": 7000, "port": 7000},
        {"ledger_address": ":"},
        {"ledger_address": "ledger.internal"},
        {"ledger_address": "ledger.internal:http"},
        {"ledger_address": "ledger.internal:99999"},
        {"port": 70000},
        {"port": -1},
        {"issuer_name": ""},
        {"issuer_name": "store=evil"},
        {"issuer_name": "x" * 257},
        {"issuer_name": "line\nbreak"},
    ],
)
def test_settings_that_cannot_work_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(SystemExit):
        Settings(**bad)  # type: ignore[arg-type]


def test_the_page_token_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_page_token_key(tmp_path)
    assert len(first) == 32
    assert load_page_token_key(tmp_path) == first
    assert (tmp_path / "page-token.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["page-token.key"]


def test_a_truncated_page_token_key_is_refused_with_advice(tmp_path: Path) -> None:
    (tmp_path / "page-token.key").write_bytes(b"short")
    with pytest.raises(SystemExit) as refused:
        load_page_token_key(tmp_path)
    assert "delete it" in str(refused.value)


@pytest.mark.parametrize("address", ["ledger.internal:50052", "10.0.0.7:1", "[::1]:50052"])
def test_ledger_addresses_are_host_and_port(address: str) -> None:
    assert Settings(ledger_address=address).ledger_address == address


async def test_a_configured_issuer_key_file_must_exist(tmp_path: Path) -> None:
    settings = Settings(port=0, data_dir=tmp_path, issuer_key_file=tmp_path / "typo.pem")
    with pytest.raises(SystemExit) as refused:
        load_issuer_key(settings)
    assert "typo.pem" in str(refused.value)
    assert not (tmp_path / "typo.pem").exists()
