"""Contract: name and subject filters are literal substrings of the casefold()ed
text on every backend: full Unicode case folding (ß, ẞ, Turkish İ), and no
character of the needle acts as a wildcard or a regular-expression operator."""

from __future__ import annotations

import pytest

from vconstore.ports import VconFilter, VconRepository
from vconstore.storage.normalise import fold

from .records import ORG, at, make_record

TEXTS = [
    "Bernd Straße",
    "STRA\u1e9eE Inc",  # capital sharp s
    "strasse lower",
    "\u0130stanbul Office",  # capital I with dot above
    "istanbul plain",
    "I\u015eIK \u0131s\u0131",  # dotless i: ISI folds to "isi", not "\u0131s\u0131"
    "a.c (x|y) ^top$ 1+1? {2} 3*",
    "back\\slash /slash #hash &amp; ~t",
    "tab\there",
    "nul\x00here",
    "abc",
]

NEEDLES = [
    # Case folding: sharp s and capital sharp s both fold to "ss".
    "STRASSE",
    "straße",
    "STRA\u1e9eE",
    # İ folds to i + combining dot above, so it finds itself but not a plain "i".
    "\u0130stanbul",
    "istanbul",
    "ISTANBUL",
    "\u0131\u015f\u0131k",
    "ISI",
    # Regular-expression metacharacters, each literal.
    ".",
    "a.c",
    "^top",
    "top$",
    "(x|y)",
    "x|y",
    "1+1?",
    "{2}",
    "3*",
    "\\",
    "\\s",
    "/slash",
    "#hash",
    "&amp;",
    "~t",
    " ",
    "\t",
    "\x00",
    "l\x00h",
    "a.*c",
    "[a-c]",
]


def _expected(needle: str, texts: list[str]) -> list[int]:
    return [i for i, text in enumerate(texts) if fold(needle) in fold(text)]


def test_the_expectations_are_not_trivial() -> None:
    assert _expected("STRASSE", TEXTS) == [0, 1, 2]
    assert _expected("istanbul", TEXTS) == [4]
    assert _expected("\u0130stanbul", TEXTS) == [3]
    assert _expected("a.c", TEXTS) == [6]
    assert _expected("a.*c", TEXTS) == []
    assert _expected("\\s", TEXTS) == [7]


@pytest.mark.parametrize("field", ["party_name", "subject_contains"])
async def test_substring_filters_fold_like_casefold_and_match_literally(
    repo: VconRepository, field: str
) -> None:
    # Newest first: TEXTS[0] is the newest, so expected indexes stay ascending.
    uuids = []
    for i, text in enumerate(TEXTS):
        record = make_record(created_at=at(-i), subject=text, party_names=(text,))
        assert await repo.insert(record=record) is None
        uuids.append(record.uuid)

    found = {}
    for needle in NEEDLES:
        page = await repo.list(org=ORG, filter=VconFilter(**{field: needle}), after=None, limit=100)
        found[needle] = [uuids.index(item.uuid) for item in page.items]

    assert found == {needle: _expected(needle, TEXTS) for needle in NEEDLES}
