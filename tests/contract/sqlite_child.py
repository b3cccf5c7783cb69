"""Run as a separate process by test_sqlite_durability.py (never collected by pytest).

    python sqlite_child.py DB_PATH

Inserts vCons from several concurrent writers without end, printing each uuid
on stdout once its insert() has returned (been acknowledged); the parent kills
the process with SIGKILL in the middle of that stream.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vconstore.ports import VconRecord
from vconstore.storage.sqlite import SqliteVconRepository

ORG = "durable"
WRITERS = 8
# A bound, in case the parent dies without killing this process.
MAX_INSERTS = 100_000


def durable_record(i: int) -> VconRecord:
    """Deterministic, so the parent can check what it reads back."""
    uuid = f"{i:08x}-0000-4000-8000-000000000000"
    return VconRecord(
        org=ORG,
        uuid=uuid,
        vcon_json=f'{{"uuid":"{uuid}","vcon":"0.3.0","parties":[],"n":{i}}}',
        typed_pb=i.to_bytes(4, "big"),
        parties_pb=b"",
        content_hash=f"sha256:{i:064x}",
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=i),
        received_at=datetime(2024, 1, 2, tzinfo=UTC),
        detected_version="0.3.0",
        signed=False,
        tags=(f"n:{i}",),
    )


async def main(path: Path) -> None:
    repo = SqliteVconRepository(path)
    await repo.open()
    numbers = itertools.count()

    async def writer() -> None:
        while (i := next(numbers)) < MAX_INSERTS:
            record = durable_record(i)
            await repo.insert(record=record)
            sys.stdout.write(record.uuid + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    await asyncio.Event().wait()  # hold on until killed


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
