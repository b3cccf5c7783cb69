"""SQLite only: an acknowledged insert survives the process being killed."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from vconstore.ports import VconFilter
from vconstore.storage.sqlite import SqliteVconRepository

from .sqlite_child import ORG, durable_record

CHILD = Path(__file__).with_name("sqlite_child.py")
ACKS_BEFORE_KILL = 200


async def test_acknowledged_inserts_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "vcons.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(path), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < ACKS_BEFORE_KILL:
            line = await child.stdout.readline()
            assert line, f"child exited early with {await child.wait()}"
            acked.append(line.decode().strip())
        # Killed mid-stream: other inserts are queued or being committed right now.
        child.send_signal(signal.SIGKILL)
    finally:
        if child.returncode is None:
            child.kill()
        # Acks the child printed before it died count too.
        acked += (await child.stdout.read()).decode().split()
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    repo = SqliteVconRepository(path)
    await repo.open()
    try:
        for uuid in acked:
            stored = await repo.get(org=ORG, uuid=uuid)
            expected = durable_record(int(uuid[:8], 16))
            assert (stored.vcon_json, stored.typed_pb) == (expected.vcon_json, expected.typed_pb)
        page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=1)
        # Unacknowledged inserts may or may not have committed; never fewer than acked.
        assert page.total >= len(acked) >= ACKS_BEFORE_KILL
    finally:
        await repo.close()
