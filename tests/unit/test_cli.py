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
