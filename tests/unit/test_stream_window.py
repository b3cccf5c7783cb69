"""The bulk streams' window: at most N jobs at once, results as they
finish, new jobs taken while results are pending, and every running job
cancelled when the consumer goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from vconstore.api.redaction_methods import _windowed


@dataclass
class Jobs:
    """Jobs that wait for `release`; counts what runs at once."""

    count: int
    window: int
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once `window` jobs have started.
    full: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    peak: int = 0
    started: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)

    async def job(self, index: int) -> int:
        self.started.append(index)
        if len(self.started) == self.window:
            self.full.set()
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(index)
            raise
        finally:
            self.active -= 1
        return index

    async def factories(self) -> AsyncIterator[Callable[[], Awaitable[int]]]:
        for index in range(self.count):
            yield lambda i=index: self.job(i)


async def test_at_most_the_window_runs_and_every_result_comes_once() -> None:
    jobs = Jobs(20, window=4)
    stream = _windowed(jobs.factories(), window=4)
    first = asyncio.ensure_future(anext(stream))
    # The window fills while nothing has finished; then release them all.
    await jobs.full.wait()
    for _ in range(10):  # it would start a fifth job now if it could
        await asyncio.sleep(0)
    assert len(jobs.started) == 4
    jobs.release.set()
    results = [await first, *[item async for item in stream]]
    assert sorted(results) == list(range(20))
    assert jobs.peak == 4 and jobs.cancelled == []


async def test_a_consumer_that_goes_away_cancels_the_running_jobs() -> None:
    jobs = Jobs(20, window=4)
    stream = _windowed(jobs.factories(), window=4)
    waiting = asyncio.ensure_future(anext(stream))
    await jobs.full.wait()
    waiting.cancel()  # the client went away while every job ran
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await stream.aclose()
    assert sorted(jobs.cancelled) == [0, 1, 2, 3]
    assert len(jobs.started) == 4 and jobs.active == 0
