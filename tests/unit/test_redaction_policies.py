"""Redaction policies: the built-ins, and a policies file's every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vconstore.redaction.policies import BUILT_IN, load_policies


def test_without_a_file_the_built_ins() -> None:
    assert set(load_policies(None)) == {"pii-default", "pii-strict"}
    assert BUILT_IN["pii-strict"].text_kinds > BUILT_IN["pii-default"].text_kinds


def test_a_file_adds_and_replaces_policies(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "cards-only",
                    "description": "cards",
                    "remove": ["card"],
                    "party_members": [],
                    "keep_media": True,
                },
                {"name": "pii-default", "remove": ["party", "phone"], "regions": ["DE"]},
            ]
        )
    )
    policies = load_policies(path)
    assert set(policies) == {"pii-default", "pii-strict", "cards-only"}
    assert policies["cards-only"].text_kinds == {"card"} and policies["cards-only"].keep_media
    assert policies["pii-default"].regions == ("DE",)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "redaction policies file"),
        ('{"name": "x"}', "JSON array"),
        ('[{"name": "Bad Name"}]', "name must be"),
        ('[{"name": "x", "remove": ["dna"]}]', "remove must list kinds"),
        ('[{"name": "x", "party_members": ["soul"]}]', "party_members"),
        ('[{"name": "x", "regions": ["gb"]}]', "regions"),
        ('[{"name": "x", "keep_media": "yes"}]', "keep_media"),
        ('[{"name": "x", "surprise": 1}]', "unknown member"),
        ("[3]", "a policy is a JSON object"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "policies.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=said):
        load_policies(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redaction policies file"):
        load_policies(tmp_path / "absent.json")
