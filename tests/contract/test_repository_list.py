"""Contract: list() filters, order, keyset pagination and totals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from vconstore.ports import Cursor, VconFilter, VconRecord, VconRepository

from .records import ORG, OTHER_ORG, at, make_record


async def _store(repo: VconRepository, *records: VconRecord) -> None:
    for record in records:
        assert await repo.insert(record=record) is None


async def _uuids(repo: VconRepository, where: VconFilter, *, org: str = ORG) -> list[str]:
    """Every match, newest first (one page large enough for these tests)."""
    page = await repo.list(org=org, filter=where, after=None, limit=1000)
    assert (page.has_more, page.total) == (False, len(page.items))
    return [item.uuid for item in page.items]


async def test_list_of_an_empty_store(repo: VconRepository) -> None:
    page = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=10)
    assert (page.items, page.has_more, page.total) == ([], False, 0)


async def test_list_newest_first_with_ties_broken_by_uuid_descending(
    repo: VconRepository,
) -> None:
    older = make_record(uuid="00000000-0000-4000-8000-000000000009", created_at=at(1))
    tie_low = make_record(uuid="00000000-0000-4000-8000-00000000000a", created_at=at(2))
    tie_high = make_record(uuid="f0000000-0000-4000-8000-000000000000", created_at=at(2))
    newest = make_record(uuid="10000000-0000-4000-8000-000000000000", created_at=at(3))
    await _store(repo, tie_low, older, newest, tie_high)

    assert await _uuids(repo, VconFilter()) == [
        newest.uuid,
        tie_high.uuid,
        tie_low.uuid,
        older.uuid,
    ]


async def test_list_by_created_after_is_inclusive(repo: VconRepository) -> None:
    before, exactly, after = (make_record(created_at=at(s)) for s in (-1e-6, 0, 1e-6))
    await _store(repo, before, exactly, after)

    assert await _uuids(repo, VconFilter(created_after=at(0))) == [after.uuid, exactly.uuid]


async def test_list_by_created_before_is_exclusive(repo: VconRepository) -> None:
    before, exactly, after = (make_record(created_at=at(s)) for s in (-1e-6, 0, 1e-6))
    await _store(repo, before, exactly, after)

    assert await _uuids(repo, VconFilter(created_before=at(0))) == [before.uuid]


async def test_list_by_created_range(repo: VconRepository) -> None:
    records = [make_record(created_at=at(s)) for s in range(6)]
    await _store(repo, *records)

    found = await _uuids(repo, VconFilter(created_after=at(2), created_before=at(4)))

    assert found == [records[3].uuid, records[2].uuid]


async def test_list_by_party_tel_matches_exactly(repo: VconRepository) -> None:
    match = make_record(party_tels=("+15551234567", "+442071234567"))
    prefix = make_record(party_tels=("+155512345678",))
    other = make_record(party_tels=("+15550000000",))
    await _store(repo, match, prefix, other)

    assert await _uuids(repo, VconFilter(party_tel="+442071234567")) == [match.uuid]
    assert await _uuids(repo, VconFilter(party_tel="+1555123456")) == []


async def test_list_by_party_mailto_matches_exactly(repo: VconRepository) -> None:
    match = make_record(party_mailtos=("alice@example.com",))
    longer = make_record(party_mailtos=("malice@example.com",))
    await _store(repo, match, longer)

    assert await _uuids(repo, VconFilter(party_mailto="alice@example.com")) == [match.uuid]
    assert await _uuids(repo, VconFilter(party_mailto="example.com")) == []


async def test_list_by_party_name_is_a_case_insensitive_substring(
    repo: VconRepository,
) -> None:
    alice = make_record(created_at=at(3), party_names=("Alice Smith", "Bob"))
    bernd = make_record(created_at=at(2), party_names=("Bernd Stra\u00dfe",))
    zoe = make_record(created_at=at(1), party_names=("ZO\u00cb",))
    await _store(repo, alice, bernd, zoe)

    assert await _uuids(repo, VconFilter(party_name="SMITH")) == [alice.uuid]
    assert await _uuids(repo, VconFilter(party_name="e s")) == [alice.uuid]
    assert await _uuids(repo, VconFilter(party_name="b")) == [alice.uuid, bernd.uuid]
    # Full case folding, not ASCII lower(): sharp s folds to "ss", diacritics fold too.
    assert await _uuids(repo, VconFilter(party_name="STRASSE")) == [bernd.uuid]
    assert await _uuids(repo, VconFilter(party_name="zo\u00eb")) == [zoe.uuid]
    # The substring must lie within one name, not span two.
    assert await _uuids(repo, VconFilter(party_name="smithbob")) == []


async def test_list_by_subject_is_a_case_insensitive_substring(repo: VconRepository) -> None:
    billing = make_record(created_at=at(2), subject="Billing question \u00c9T\u00c9")
    refund = make_record(created_at=at(1), subject="Refund for BILLING error")
    silent = make_record(created_at=at(0), subject=None)
    await _store(repo, billing, refund, silent)

    assert await _uuids(repo, VconFilter(subject_contains="billing")) == [
        billing.uuid,
        refund.uuid,
    ]
    assert await _uuids(repo, VconFilter(subject_contains="\u00e9t\u00e9")) == [billing.uuid]
    assert await _uuids(repo, VconFilter(subject_contains="ERROR")) == [refund.uuid]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        pytest.param("%", ["percent"], id="percent"),
        pytest.param("_", ["underscore"], id="underscore"),
        pytest.param("a_c", ["underscore"], id="underscore-inside"),
        pytest.param("100%", ["percent"], id="percent-suffix"),
        pytest.param("\\", ["backslash"], id="backslash"),
        pytest.param("[ab]", ["brackets"], id="brackets"),
        pytest.param("*", [], id="star"),
    ],
)
async def test_substring_filters_take_like_wildcards_literally(
    repo: VconRepository, needle: str, expected: list[str]
) -> None:
    texts = {
        "percent": "100% sure",
        "underscore": "a_c",
        "plain": "abc axc 100 sure",
        "backslash": "c:\\temp",
        "brackets": "[ab] b",
    }
    uuid_of = {}
    for i, (label, text) in enumerate(texts.items()):
        record = make_record(created_at=at(-i), subject=text, party_names=(text,))
        uuid_of[label] = record.uuid
        await _store(repo, record)

    wanted = [uuid_of[label] for label in expected]
    assert await _uuids(repo, VconFilter(subject_contains=needle)) == wanted
    assert await _uuids(repo, VconFilter(party_name=needle)) == wanted


async def test_list_by_tag(repo: VconRepository) -> None:
    vip = make_record(created_at=at(3), tags=("customer:vip", "lang:en"))
    gold = make_record(created_at=at(2), tags=("customer:gold",))
    bare = make_record(created_at=at(1), tags=("customer",))
    await _store(repo, vip, gold, bare)

    assert await _uuids(repo, VconFilter(tag="customer:vip")) == [vip.uuid]
    assert await _uuids(repo, VconFilter(tag="customer")) == [bare.uuid]
    assert await _uuids(repo, VconFilter(tag="customer:")) == []
    assert await _uuids(repo, VconFilter(tag="vip")) == []


async def test_list_by_tag_key(repo: VconRepository) -> None:
    vip = make_record(created_at=at(4), tags=("customer:vip", "lang:en"))
    gold = make_record(created_at=at(3), tags=("customer:gold",))
    bare = make_record(created_at=at(2), tags=("customer",))
    lookalike = make_record(created_at=at(1), tags=("customers:many", "cust:x"))
    nested = make_record(created_at=at(0), tags=("time:12:30",))
    await _store(repo, vip, gold, bare, lookalike, nested)

    assert await _uuids(repo, VconFilter(tag_key="customer")) == [vip.uuid, gold.uuid, bare.uuid]
    assert await _uuids(repo, VconFilter(tag_key="lang")) == [vip.uuid]
    # The key ends at the FIRST colon.
    assert await _uuids(repo, VconFilter(tag_key="time")) == [nested.uuid]
    assert await _uuids(repo, VconFilter(tag_key="time:12")) == []
    assert await _uuids(repo, VconFilter(tag_key="vip")) == []


async def test_a_vcon_with_several_matching_keys_is_listed_once(repo: VconRepository) -> None:
    record = make_record(
        tags=("k:a", "k:b", "k:a"),
        party_names=("Ann", "ann", "Anna"),
        party_tels=("+1", "+1"),
    )
    await _store(repo, record)

    for where in (
        VconFilter(tag_key="k"),
        VconFilter(party_name="ann"),
        VconFilter(party_tel="+1"),
        VconFilter(tag="k:a"),
    ):
        assert await _uuids(repo, where) == [record.uuid]


async def test_list_filters_are_combined_with_and(repo: VconRepository) -> None:
    def record(seconds: int, **changes: Any) -> VconRecord:
        base: dict[str, Any] = {
            "created_at": at(seconds),
            "subject": "Support call",
            "party_tels": ("+15551234567",),
            "party_mailtos": ("ann@example.com",),
            "party_names": ("Ann Example",),
            "tags": ("queue:support", "lang:en"),
        }
        return make_record(**(base | changes))

    everything = record(10)
    misses = [
        record(11, created_at=at(-1)),
        record(12, created_at=at(100)),
        record(13, party_tels=("+15559999999",)),
        record(14, party_mailtos=("bob@example.com",)),
        record(15, party_names=("Bob",)),
        record(16, subject="Sales call"),
        record(17, subject=None),
        record(18, tags=("queue:sales", "lang:en")),
        record(19, tags=("queue:support",)),
    ]
    await _store(repo, everything, *misses)
    where = VconFilter(
        created_after=at(0),
        created_before=at(50),
        party_tel="+15551234567",
        party_mailto="ann@example.com",
        party_name="ann ex",
        subject_contains="SUPPORT",
        tag="queue:support",
        tag_key="lang",
    )

    assert await _uuids(repo, where) == [everything.uuid]
    # Each condition alone lets more through: each one is doing the excluding.
    assert len(await _uuids(repo, VconFilter(tag_key="lang"))) == 9


async def test_list_filters_stay_within_the_org(repo: VconRepository) -> None:
    mine = make_record(org=ORG, tags=("t:x",), party_names=("Ann",), subject="hello")
    theirs = make_record(org=OTHER_ORG, tags=("t:x",), party_names=("Ann",), subject="hello")
    await _store(repo, mine, theirs)

    for where in (
        VconFilter(tag="t:x"),
        VconFilter(tag_key="t"),
        VconFilter(party_name="ann"),
        VconFilter(subject_contains="hell"),
    ):
        assert await _uuids(repo, where, org=ORG) == [mine.uuid]
        assert await _uuids(repo, where, org=OTHER_ORG) == [theirs.uuid]


def _expected_order(records: list[VconRecord]) -> list[str]:
    ordered = sorted(records, key=lambda r: (r.created_at, r.uuid), reverse=True)
    return [r.uuid for r in ordered]


async def _walk(
    repo: VconRepository, where: VconFilter, page_size: int
) -> tuple[list[list[str]], list[tuple[bool, int]]]:
    """Follow the keyset cursor to the end; the pages and their (has_more, total)."""
    pages: list[list[str]] = []
    flags: list[tuple[bool, int]] = []
    after: Cursor | None = None
    while True:
        page = await repo.list(org=ORG, filter=where, after=after, limit=page_size)
        pages.append([item.uuid for item in page.items])
        flags.append((page.has_more, page.total))
        if not page.has_more:
            return pages, flags
        last = page.items[-1]
        after = Cursor(created_at=last.created_at, uuid=last.uuid)


async def test_pagination_visits_each_vcon_exactly_once_in_order(repo: VconRepository) -> None:
    # 25 vCons over 9 instants: most created_at values are shared by 3.
    records = [make_record(created_at=at(i // 3)) for i in range(25)]
    await _store(repo, *records)

    pages, flags = await _walk(repo, VconFilter(), page_size=7)

    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [uuid for page in pages for uuid in page] == _expected_order(records)
    assert flags == [(True, 25), (True, 25), (True, 25), (False, 25)]


async def test_pagination_with_a_filter_counts_only_matches(repo: VconRepository) -> None:
    records = [
        make_record(created_at=at(i // 4), tags=("parity:even" if i % 2 == 0 else "parity:odd",))
        for i in range(25)
    ]
    await _store(repo, *records)
    even = [r for r in records if r.tags == ("parity:even",)]

    pages, flags = await _walk(repo, VconFilter(tag="parity:even"), page_size=7)

    assert [uuid for page in pages for uuid in page] == _expected_order(even)
    assert flags == [(True, 13), (False, 13)]


async def test_a_page_that_ends_exactly_at_the_last_match_has_no_more(
    repo: VconRepository,
) -> None:
    records = [make_record(created_at=at(i)) for i in range(14)]
    await _store(repo, *records)

    pages, flags = await _walk(repo, VconFilter(), page_size=7)

    assert [len(p) for p in pages] == [7, 7]
    assert flags == [(True, 14), (False, 14)]


async def test_the_cursor_is_a_position_not_a_vcon(repo: VconRepository) -> None:
    records = [make_record(created_at=at(i)) for i in range(5)]
    await _store(repo, *records)
    first = await repo.list(org=ORG, filter=VconFilter(), after=None, limit=2)
    last = first.items[-1]

    # The vCon the cursor points at is erased, and one newer than it is added.
    await repo.delete(org=ORG, uuid=last.uuid)
    await _store(repo, make_record(created_at=at(100)))
    rest = await repo.list(
        org=ORG, filter=VconFilter(), after=Cursor(last.created_at, last.uuid), limit=10
    )

    assert [i.uuid for i in rest.items] == [r.uuid for r in reversed(records[:3])]
    assert (rest.has_more, rest.total) == (False, 5)


async def test_a_cursor_between_ties_resumes_inside_the_tie(repo: VconRepository) -> None:
    tie = [
        make_record(uuid=f"{i:08x}-0000-4000-8000-000000000000", created_at=at(0))
        for i in (1, 2, 3)
    ]
    await _store(repo, *tie)

    after = Cursor(created_at=at(0), uuid="00000002-0000-4000-8000-000000000000")
    page = await repo.list(org=ORG, filter=VconFilter(), after=after, limit=10)

    assert [i.uuid for i in page.items] == [tie[0].uuid]
    assert page.total == 3
    # A cursor a microsecond later than the tie includes all of it.
    later = Cursor(created_at=at(0) + timedelta(microseconds=1), uuid="")
    assert len((await repo.list(org=ORG, filter=VconFilter(), after=later, limit=10)).items) == 3
