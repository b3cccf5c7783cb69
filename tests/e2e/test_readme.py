"""The README's grpcurl lines work as printed, against `vconstore up` run as
`make run` runs it (its data directory at ./data of the working directory)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
ADDRESS = "127.0.0.1:50051"


def readme_grpcurl_commands() -> list[str]:
    """The commands of the first ```sh block of "Try it with grpcurl"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Try it with grpcurl", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.startswith("grpcurl ")]


def test_the_readme_shows_keys_on_every_call_but_health_and_reflection() -> None:
    commands = readme_grpcurl_commands()
    assert len(commands) >= 8
    for command in commands:
        public = command.endswith((" list", "grpc.health.v1.Health/Check"))
        assert ("authorization: Bearer" in command) != public, command


def test_the_readme_grpcurl_lines_work_as_printed(
    grpcurl: str, server: ServerProcess, tmp_path: Path
) -> None:
    # The server's data dir is tmp_path/data: run from tmp_path, as from the
    # project's directory after `make run`.
    assert server.data_dir == tmp_path / "data"
    for command in readme_grpcurl_commands():
        runnable = grpcurl + command.removeprefix("grpcurl").replace(ADDRESS, server.address)
        done = subprocess.run(
            ["bash", "-c", runnable],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        if "CreateApiKey" in command:
            assert '"key": "vcs_live_sk_' in done.stdout
        if "CreateVcon" in command:
            assert '"status": "REGISTERED"' in done.stdout
        if "RedactVcon" in command:
            assert '"redacted": true' in done.stdout and "Alice" not in done.stdout
