"""Every list filter, and the ledger outbox's search for pending entries, uses
an index, asserted with explain() on a real MongoDB (VCON_TEST_MONGODB_URI).
The stand-in has no query planner, so without a real server these are
skipped, saying why."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import MONGODB_TEST_URI
from vconstore.ports import Cursor, ScittEntry, VconFilter
from vconstore.storage.mongo.documents import LIST_PROJECTION
from vconstore.storage.mongo.queries import list_query
from vconstore.storage.mongo.scitt import COUNT_PENDING, PENDING_HINT, pending_pipeline

from .mongo_setup import MongoUnderTest, mongo_under_test
from .records import ORG, at, make_record, new_uuid

pytestmark = pytest.mark.skipif(
    not MONGODB_TEST_URI,
    reason="query plans need a real MongoDB: set VCON_TEST_MONGODB_URI=mongodb://...",
)

FILTERS = {
    "none": VconFilter(),
    "created-range": VconFilter(created_after=at(-100), created_before=at(100)),
    "party-tel": VconFilter(party_tel="+15551234567"),
    "party-mailto": VconFilter(party_mailto="ann@example.com"),
    "party-name": VconFilter(party_name="ann"),
    "subject": VconFilter(subject_contains="support"),
    "tag": VconFilter(tag="queue:support"),
    "tag-key": VconFilter(tag_key="queue"),
    "all": VconFilter(
        created_after=at(-100),
        created_before=at(100),
        party_tel="+15551234567",
        party_mailto="ann@example.com",
        party_name="ann",
        subject_contains="support",
        tag="queue:support",
        tag_key="queue",
    ),
}


def _entry(operation: str, seconds: float) -> ScittEntry:
    statement = f"{operation}:{seconds}:{new_uuid()}".encode()
    return ScittEntry(
        entry_id="sha256:" + hashlib.sha256(statement).hexdigest(),
        operation=operation,
        statement=statement,
        created_at=at(seconds),
    )


async def _add_a_tombstone(mongo: MongoUnderTest) -> None:
    """A deleted vCon with its entries kept: no created_us, so outside every
    list query's index bounds (and it must not make them scan more)."""
    record = make_record(
        created_at=at(5),
        subject="Support call",
        party_tels=("+15551234567",),
        tags=("queue:support",),
    )
    await mongo.repository.insert(record=record, scitt=_entry("register", 5))
    deletion = _entry("delete", 6)
    await mongo.repository.delete(org=ORG, uuid=record.uuid, scitt=lambda _hash: deletion)


async def _explain_aggregate(
    mongo: MongoUnderTest, pipeline: list[dict[str, Any]], hint: str
) -> Any:
    return await mongo.collection.database.command(
        {
            "explain": {
                "aggregate": mongo.options.collection,
                "pipeline": pipeline,
                "cursor": {},
                "hint": hint,
            },
            "verbosity": "queryPlanner",
        }
    )


def _stages(plan: Any) -> Iterator[str]:
    """Every stage name in an explain document, whatever its nesting (classic
    and slot-based plans, find and aggregate explains differ in shape)."""
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key == "stage" and isinstance(value, str):
                yield value
            else:
                yield from _stages(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _stages(item)


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first-page", "next-page"])
@pytest.mark.parametrize("name", list(FILTERS))
async def test_every_list_filter_uses_an_index(name: str, with_cursor: bool) -> None:
    async with mongo_under_test() as mongo:
        # Documents with arrays, so the key indexes are multikey as in production.
        for i in range(20):
            await mongo.repository.insert(
                record=make_record(
                    created_at=at(i),
                    subject="Support call",
                    party_tels=("+15551234567", f"+1555000{i:04d}"),
                    party_mailtos=("ann@example.com",),
                    party_names=("Ann Example", "Bob"),
                    tags=("queue:support", "lang:en"),
                )
            )
        await _add_a_tombstone(mongo)
        after = Cursor(created_at=at(10), uuid="8" * 8) if with_cursor else None
        query = list_query(ORG, FILTERS[name], after, 5)

        find_plan = await mongo.collection.find(
            query.page, LIST_PROJECTION, sort=query.sort, limit=query.fetch, hint=query.hint
        ).explain()
        count_plan = await _explain_aggregate(
            mongo,
            [{"$match": query.matching}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
            query.hint,
        )

    page_stages = set(_stages(find_plan["queryPlanner"]["winningPlan"]))
    assert "IXSCAN" in page_stages, find_plan
    assert "COLLSCAN" not in page_stages, find_plan
    # The index yields the page in order: no sort of all matches in memory.
    assert "SORT" not in page_stages, find_plan
    count_stages = set(_stages(count_plan))
    assert "IXSCAN" in count_stages or "COUNT_SCAN" in count_stages, count_plan
    assert "COLLSCAN" not in count_stages, count_plan


@pytest.mark.parametrize("name", ["pending", "count"])
async def test_pending_entries_are_found_through_their_index(name: str) -> None:
    async with mongo_under_test() as mongo:
        for i in range(20):
            # Half without entries: those are not in the sparse index at all.
            entry = _entry("register", i) if i % 2 else None
            await mongo.repository.insert(record=make_record(created_at=at(i)), scitt=entry)
        await _add_a_tombstone(mongo)
        pipeline = pending_pipeline(5) if name == "pending" else COUNT_PENDING
        plan = await _explain_aggregate(mongo, pipeline, PENDING_HINT)

    stages = set(_stages(plan))
    assert "IXSCAN" in stages, plan
    assert "COLLSCAN" not in stages, plan
