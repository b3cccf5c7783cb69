"""What `vconstore ledger serve` makes of its flags and environment, without
starting anything (the serving coroutine is replaced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vconstore import cli
from vconstore.config import Settings
from vconstore.ledger.config import LedgerSettings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, LedgerSettings]]:
    seen: list[tuple[Settings, LedgerSettings]] = []

    async def fake_serve(settings: Settings, ledger: LedgerSettings) -> None:
        seen.append((settings, ledger))

    monkeypatch.setattr("vconstore.ledger.server.serve_ledger", fake_serve)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    for name in ("VCON_PORT", "VCON_LEDGER_ORIGIN", "VCON_LEDGER_TRUSTED_ISSUERS"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_a_standalone_ledger_listens_on_50052_by_default(
    served: list[tuple[Settings, LedgerSettings]],
) -> None:
    cli.main(["ledger", "serve"])
    assert served[0][0].port == 50052


def test_port_flag_and_environment_win_over_the_ledger_default(
    served: list[tuple[Settings, LedgerSettings]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.main(["ledger", "serve", "--port", "7000"])
    monkeypatch.setenv("VCON_PORT", "7001")
    cli.main(["ledger", "serve"])
    assert [settings.port for settings, _ in served] == [7000, 7001]


def test_ledger_flags_reach_its_settings(served: list[tuple[Settings, LedgerSettings]]) -> None:
    cli.main(
        [
            "ledger",
            "serve",
            "--origin",
            "ledger.example/vcons",
            "--trusted-issuer",
            "store=/keys/a.pem",
            "--trusted-issuer",
            "press=/keys/b.pem",
            "--retired-key",
            "/keys/old.pem",
        ]
    )
    ledger = served[0][1]
    assert ledger.origin == "ledger.example/vcons"
    assert ledger.trusted_issuers == (
        ("store", Path("/keys/a.pem")),
        ("press", Path("/keys/b.pem")),
    )
    assert ledger.retired_key_files == (Path("/keys/old.pem"),)


def test_a_malformed_trusted_issuer_is_refused(
    served: list[tuple[Settings, LedgerSettings]],
) -> None:
    with pytest.raises(SystemExit, match="NAME=PEM_FILE"):
        cli.main(["ledger", "serve", "--trusted-issuer", "no-equals-sign"])
    assert served == []


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    seen: list[Settings] = []

    async def fake_serve(settings: Settings) -> None:
        seen.append(settings)

    monkeypatch.setattr("vconstore.up.serve", fake_serve)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.delenv("VCON_LEDGER_ADDRESS", raising=False)
    return seen


def test_serve_needs_a_ledger_or_an_explicit_no(stored: list[Settings]) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["serve"])
    assert str(refused.value).startswith("vconstore: ")
    assert "--ledger-address" in str(refused.value) and "--no-ledger" in str(refused.value)
    assert stored == []


def test_serve_takes_the_ledger_address_from_flag_or_environment(
    stored: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.main(["serve", "--ledger-address", "ledger.internal:50052", "--metrics-port", "9464"])
    assert stored[-1].ledger_address == "ledger.internal:50052"
    assert stored[-1].metrics_port == 9464
    monkeypatch.setenv("VCON_LEDGER_ADDRESS", "10.0.0.7:50052")
    cli.main(["serve"])
    assert stored[-1].ledger_address == "10.0.0.7:50052"
    # --no-ledger wins over the environment: the operator said so on the command line.
    cli.main(["serve", "--no-ledger"])
    assert stored[-1].ledger_address is None


def test_serve_refuses_a_ledger_address_without_a_port(stored: list[Settings]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--ledger-address", "ledger.internal"])


@pytest.mark.parametrize(
    "argv",
    [["serve", "--no-ledger", "--log-level", "nope"], ["serve", "--no-ledger", "--port", "99999"]],
)
def test_every_refused_setting_ends_in_one_vconstore_line(
    stored: list[Settings], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert str(refused.value).startswith("vconstore: ") and "\n" not in str(refused.value)
    assert stored == []
