"""Strict I-JSON parsing: what RFC 7493 forbids is refused, with the path where it is."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.corpus_expectations import CORPUS_DIR
from vconstore.domain import ijson
from vconstore.domain.errors import LimitExceeded, VconInvalid
from vconstore.domain.ijson import parse_ijson

SAFE = 2**53 - 1


def refusal(text: str, **limits: int) -> VconInvalid:
    with pytest.raises(VconInvalid) as caught:
        parse_ijson(text, max_depth=limits.pop("max_depth", 64), **limits)
    return caught.value


def parse(text: str) -> object:
    return parse_ijson(text, max_depth=64)


# --- accepted --------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values, st.booleans())
def test_any_i_json_value_round_trips(value: Any, ascii_only: bool) -> None:
    # ensure_ascii writes astral characters as surrogate-pair escapes: valid I-JSON.
    assert parse(json.dumps(value, ensure_ascii=ascii_only)) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (f'{{"i": {SAFE}, "j": -{SAFE}}}', {"i": SAFE, "j": -SAFE}),
        ('{"zero": -0, "big": 1e20, "tiny": 1e-400}', {"zero": 0, "big": 1e20, "tiny": 0.0}),
        ('{"pair": "\\ud83d\\ude00"}', {"pair": "\U0001f600"}),
        ('{"escaped backslash": "\\\\ud800"}', {"escaped backslash": "\\ud800"}),
        ("  [1, 2]  ", [1, 2]),
    ],
)
def test_edge_values_are_accepted(text: str, value: object) -> None:
    assert parse(text) == value


# --- refused: syntax -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,}', "line 1 column 9"),
        ('{\n  "a": [1 2]\n}', "line 2 column 11"),
        ("", "line 1 column 1"),
        ('{"a": 1} x', "line 1 column 10"),
        ("{'a': 1}", "line 1 column 2"),
        ('{"a": "tab\there"}', "line 1 column 11"),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, where: str) -> None:
    error = refusal(text)
    assert error.reason == "VCON_NOT_JSON"
    assert error.violations[0].path == ""
    assert where in error.violations[0].message


# --- refused: I-JSON ----------------------------------------------------------------


def offences(text: str) -> list[tuple[str, str]]:
    error = refusal(text)
    assert error.reason == "VCON_NOT_IJSON"
    return [(v.path, v.message) for v in error.violations]


def test_duplicate_member_names_are_refused_with_name_and_path() -> None:
    found = offences('{"dialog": [{"type": "text", "type": "recording"}]}')
    assert found == [("dialog[0].type", 'duplicate member name "type"')]


def test_every_duplicate_is_reported_even_inside_an_overwritten_value() -> None:
    found = offences('{"x": [{"d": 1, "d": 2}], "x": {"e": 1, "e": 1}, "y": 1, "y": 2}')
    assert sorted(p for p, _ in found) == ["x", "x.e", "x[0].d", "y"]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"s": "\\ud800"}', "s"),
        ('{"s": "\\udc00\\ud800"}', "s"),  # reversed pair
        ('{"s": "x\\ud83dy"}', "s"),  # high surrogate then a non-escape
        ('{"s": ["ok", "\\uDBFF\\u0041"]}', "s[1]"),  # then a non-surrogate escape
        ('{"s": "\\\\\\ud800"}', "s"),  # an escaped backslash, then a real escape
    ],
)
def test_lone_surrogate_escapes_are_refused(text: str, path: str) -> None:
    [(where, message)] = offences(text)
    assert where == path
    assert "lone surrogate" in message


def test_lone_surrogate_in_a_member_name_is_refused() -> None:
    [(where, message)] = offences('{"a\\udc00": 1}')
    assert "member name" in message
    where.encode("utf-8")  # the path itself stays valid UTF-8


def test_raw_lone_surrogate_in_the_text_is_refused() -> None:
    [(where, message)] = offences('{"s": "\ud800"}')
    assert where == ""
    assert "U+D800" in message
    assert "column 8" in message


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        (str(SAFE + 1), "outside"),
        (str(-SAFE - 1), "outside"),
        ("1" * 5000, "outside"),  # beyond int()'s digit limit: still refused cleanly
        ("1e400", "overflows"),
        ("-1e400", "overflows"),
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not"),
        ("-Infinity", "-Infinity is not"),
    ],
)
def test_numbers_outside_i_json_are_refused(token: str, fragment: str) -> None:
    [(where, message)] = offences(f'{{"dialog": [{{"duration": {token}}}]}}')
    assert where == "dialog[0].duration"
    assert fragment in message


def test_all_offences_are_listed_together() -> None:
    found = offences('{"a": NaN, "b": [1e999, 9007199254740993], "a": 0}')
    assert sorted(p for p, _ in found) == ["a", "a", "b[0]", "b[1]"]


# --- limits ---------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_up_to_the_limit_is_accepted_and_one_more_is_refused() -> None:
    parse_ijson(nested(5), max_depth=5)
    parse_ijson('{"a": {"b": [{"c": []}]}}', max_depth=5)
    with pytest.raises(LimitExceeded) as too_deep:
        parse_ijson('{"a": {"b": [{"c": [[]]}]}}', max_depth=5)
    assert too_deep.value.limit_name == "max_depth"
    assert too_deep.value.limit == 5
    assert too_deep.value.violations[0].path == "a.b[0].c[0]"


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_million_nested_containers_are_refused(opener: str) -> None:
    # Refused as a limit, not a RecursionError or a crash (pytest-timeout
    # catches a hang; speed is bench/'s business, not a test's).
    with pytest.raises(LimitExceeded) as too_deep:
        parse_ijson(opener * 1_000_000, max_depth=64)
    assert too_deep.value.limit_name == "max_depth"


def test_deep_nesting_is_measured_on_the_text_when_the_recursion_limit_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a high recursion limit the C decoder could exhaust the stack first;
    # the text pre-check must refuse without decoding. (Only the reported
    # limit is raised here, so a regression fails instead of crashing.)
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: 1_000_000)
    decoded: list[str] = []
    real_decode = ijson._FAST_DECODER.decode

    def spy(text: str) -> object:
        decoded.append(text)
        return real_decode(text)

    monkeypatch.setattr(ijson._FAST_DECODER, "decode", spy)
    with pytest.raises(LimitExceeded):
        parse_ijson("[" * 1_000_000, max_depth=64)
    with pytest.raises(LimitExceeded):
        parse_ijson(nested(65), max_depth=64)
    assert decoded == []
    # Brackets that do not pair are a syntax error, found by the (now safe) decoder.
    assert refusal("[" + "[}" * 100 + "]").reason == "VCON_NOT_JSON"
    assert parse_ijson('["[[[[[[", ' + nested(3) + "]", max_depth=4) == ["[[[[[[", [[[]]]]
    assert sys.getrecursionlimit() == 1_000_000


def test_array_length_limit_names_the_path() -> None:
    assert parse_ijson('{"a": [1, 2, 3]}', max_depth=8, max_array_length=3) == {"a": [1, 2, 3]}
    with pytest.raises(LimitExceeded) as too_long:
        parse_ijson('{"a": [[1, 2], {"b": [1, 2, 3, 4]}]}', max_depth=8, max_array_length=3)
    assert too_long.value.limit_name == "max_array_length"
    assert too_long.value.violations[0].path == "a[1].b"
    # Commas inside strings do not make an array long.
    assert parse_ijson('["a,b,c,d,e"]', max_depth=8, max_array_length=1) == ["a,b,c,d,e"]


def test_a_byte_order_mark_is_named() -> None:
    with pytest.raises(VconInvalid) as refused:
        parse_ijson('\ufeff{"a": 1}', max_depth=32)
    assert "byte order mark" in refused.value.violations[0].message


json_objects = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
).map(lambda v: {"v": v})


@given(json_objects, st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
def test_both_passes_decode_alike(value: dict[str, Any], separators: tuple[str, str]) -> None:
    """The orjson fast pass and the strict stdlib pass agree on every I-JSON text,
    whichever of them ends up deciding (escaped quotes and blanks before a colon
    send a text to the strict pass)."""
    text = json.dumps(value, separators=separators, ensure_ascii=False)
    assert parse_ijson(text, max_depth=64) == json.loads(text)


def test_typical_vcon_text_takes_the_fast_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> object:
        raise AssertionError("the strict pass decoded a clean vCon")

    monkeypatch.setattr(ijson._FAST_DECODER, "decode", refuse)
    path = CORPUS_DIR / "05-draft03-email-text-thread.json"
    assert parse_ijson(path.read_text(encoding="utf-8"), max_depth=32)["uuid"]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',  # the fast pass keeps the last: must not decide
        '{"a": {"b": 1, "b": 1}}',
        '{"a": 18446744073709551616}',  # orjson would make it a float
        '{"a": 9007199254740993}',
    ],
)
def test_what_orjson_would_let_through_is_refused(text: str) -> None:
    with pytest.raises(VconInvalid) as refused:
        parse_ijson(text, max_depth=32)
    assert refused.value.reason == "VCON_NOT_IJSON"
