"""The sequencer's start-up when storage is unreachable, then reachable but
inconsistent: it must not serve on as if healthy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vconstore.domain.errors import StorageUnavailable
from vconstore.ledger.ports import TreeHead
from vconstore.ledger.sequencer import LogCorrupted, Sequencer
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.storage.memory import InMemoryLedgerRepository


class _Flaky(InMemoryLedgerRepository):
    """Unreachable for the first `outages` reads of the head, then serving a
    head whose nodes are missing (a damaged log)."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages

    async def latest_head(self) -> TreeHead | None:
        if self.outages:
            self.outages -= 1
            raise StorageUnavailable("down")
        return TreeHead(
            size=3,
            root=b"\0" * 32,
            signed_at=datetime(2026, 11, 25, tzinfo=UTC),
            receipt_protected=b"",
            receipt_signature=b"",
            checkpoint="",
        )


async def test_a_damaged_log_found_after_an_outage_ends_the_sequencer_visibly() -> None:
    repository = _Flaky(outages=2)
    await repository.open()
    sequencer = Sequencer(repository, SigningKey.generate(), origin="test/log", linger=0)
    await sequencer.start()  # storage down: starts, retries in the background
    assert not sequencer.ready
    await sequencer.failed.wait()
    assert isinstance(sequencer.failure, LogCorrupted)
    with pytest.raises(StorageUnavailable, match="cannot load its tree"):
        _ = sequencer.size
    await sequencer.stop()  # does not raise
    await repository.close()


async def test_a_damaged_log_found_at_start_refuses_to_start() -> None:
    repository = _Flaky(outages=0)
    await repository.open()
    sequencer = Sequencer(repository, SigningKey.generate(), origin="test/log", linger=0)
    with pytest.raises(LogCorrupted):
        await sequencer.start()
    await repository.close()
