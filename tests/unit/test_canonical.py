"""canonical_json is RFC 8785 (JCS), byte for byte, whichever path produced it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.corpus_expectations import corpus_files
from vconstore.domain import canonical
from vconstore.domain.canonical import canonical_json, content_hash

SAFE = 2**53 - 1

# Text from the whole of Unicode except lone surrogates (not I-JSON): astral
# characters, C0 controls, DEL, U+2028/2029, the E000-FFFF block that sorts
# differently from surrogate pairs.
unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
sort_sensitive_keys = st.text(
    st.sampled_from(["a", "\u00e9", "\ue000", "\uffff", "\U0001f600", "\U00010000", "\x00"]),
    max_size=3,
)
floats_of_every_magnitude = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, -2.0, 1e-4, 1e-5, 1e-7, 1.5e-7, 1e16, 1e21, 1.5e22, 5e-324, 9007199254740993.0]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | floats_of_every_magnitude
    | unicode_text,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(unicode_text | sort_sensitive_keys, children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=500)
@given(json_values)
def test_equals_rfc8785_for_any_json_value(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=500)
@given(json_values)
def test_the_fast_path_check_is_sound(value: Any) -> None:
    """Whenever the cheap check says the stdlib agrees, its bytes are JCS's."""
    if _takes_fast_path(value):
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(value)


def _takes_fast_path(value: Any) -> bool:
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return canonical._plain_json(value) and canonical._bytes_agree(encoded)


plain_floats = st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).filter(
    lambda f: not f.is_integer()
)
fast_path_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | plain_floats
    | plain_floats.map(lambda f: -f)
    # Strings without "." and "e": the output check may (soundly) distrust
    # number-like text inside strings, such as "x:1.0,".
    | unicode_text.filter(lambda t: "." not in t and "e" not in t),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(
                st.characters(
                    max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters=".e"
                )
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=500)
@given(fast_path_values)
def test_fast_path_values_take_it_and_equal_rfc8785(value: Any) -> None:
    assert _takes_fast_path(value)
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1.0, "a": -0.0}, b'{"a":0,"b":1}'),
        ([1e-5, 1e-7, 1e16, 1e21], b"[0.00001,1e-7,10000000000000000,1e+21]"),
        ({"\uffff": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\uffff":1}'.encode()),
        ('\x00\x1f\x7f\u2028"\\/', b'"\\u0000\\u001f\x7f\xe2\x80\xa8\\"\\\\/"'),
        (
            {"z": [0.5, 123.25], "a": {"y": None, "x": True}},
            b'{"a":{"x":true,"y":null},"z":[0.5,123.25]}',
        ),
    ],
)
def test_known_canonical_forms(value: object, expected: bytes) -> None:
    assert canonical_json(value) == expected


def test_typical_vcons_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(value: object) -> bytes:
        raise AssertionError("fell back to rfc8785")

    monkeypatch.setattr(rfc8785, "dumps", refuse)
    for name in ("04", "05", "20", "21"):
        path = next(f for f in corpus_files() if f.name.startswith(name))
        canonical_json(json.loads(path.read_text(encoding="utf-8")))


def test_values_outside_the_fast_path_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = rfc8785.dumps

    def spy(value: object) -> bytes:
        calls.append(value)
        return real(value)  # type: ignore[arg-type]

    monkeypatch.setattr(rfc8785, "dumps", spy)
    for value in ({"n": 3.0}, {"n": 1e-9}, {"\U0001f600": 1}, {"n": 1e16}):
        canonical_json(value)
    assert len(calls) == 4


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**53, {1: "non-string key"}])
def test_non_json_values_raise(value: object) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


def test_content_hash_is_sha256_of_the_canonical_form_and_ignores_layout() -> None:
    one = json.loads('{"b": [1, 2.5], "a": "\u00e9"}')
    other = json.loads('{\n  "a": "\\u00e9",\n  "b": [1, 2.50]\n}')
    digest = content_hash(one)
    assert digest == content_hash(other)
    assert digest == "sha256:" + hashlib.sha256('{"a":"\u00e9","b":[1,2.5]}'.encode()).hexdigest()
    assert content_hash({"a": "\u00e8"}) != content_hash({"a": "\u00e9"})
