"""Every list filter uses an index, asserted with explain() on a real MongoDB
(VCON_TEST_MONGODB_URI). The stand-in has no query planner, so without a real
server these are skipped, saying why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import MONGODB_TEST_URI
from vconstore.ports import Cursor, VconFilter
from vconstore.storage.mongo.documents import LIST_PROJECTION
from vconstore.storage.mongo.queries import list_query

from .mongo_setup import mongo_under_test
from .records import ORG, at, make_record

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
        after = Cursor(created_at=at(10), uuid="8" * 8) if with_cursor else None
        query = list_query(ORG, FILTERS[name], after, 5)

        find_plan = await mongo.collection.find(
            query.page, LIST_PROJECTION, sort=query.sort, limit=query.fetch, hint=query.hint
        ).explain()
        count_plan = await mongo.collection.database.command(
            {
                "explain": {
                    "aggregate": mongo.options.collection,
                    "pipeline": [
                        {"$match": query.matching},
                        {"$group": {"_id": 1, "n": {"$sum": 1}}},
                    ],
                    "cursor": {},
                    "hint": query.hint,
                },
                "verbosity": "queryPlanner",
            }
        )

    page_stages = set(_stages(find_plan["queryPlanner"]["winningPlan"]))
    assert "IXSCAN" in page_stages, find_plan
    assert "COLLSCAN" not in page_stages, find_plan
    # The index yields the page in order: no sort of all matches in memory.
    assert "SORT" not in page_stages, find_plan
    count_stages = set(_stages(count_plan))
    assert "IXSCAN" in count_stages or "COUNT_SCAN" in count_stages, count_plan
    assert "COLLSCAN" not in count_stages, count_plan
