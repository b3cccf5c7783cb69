"""Version detection from the `vcon` member or the member names of each draft's era."""

from __future__ import annotations

from typing import Any

import pytest

from vconstore.domain.versions import KNOWN_VERSIONS, detect_version, requires_vendor


def test_known_versions() -> None:
    assert KNOWN_VERSIONS == ("0.0.1", "0.0.2", "0.3.0", "0.4.0")


@pytest.mark.parametrize("written", ["0.0.1", "0.0.2", "0.3.0", "0.4.0", "9.9", ""])
def test_a_written_version_is_reported_as_written(written: str) -> None:
    # Even when the member names disagree: the version is never rewritten.
    assert detect_version({"vcon": written, "critical": [], "parties": [{"role": "x"}]}) == written


def dialog(**members: Any) -> dict[str, Any]:
    return {"dialog": [{"type": "recording", **members}]}


@pytest.mark.parametrize(
    ("doc", "version"),
    [
        ({}, "0.4.0"),  # core-01+ omit the member
        ({"vcon": None}, "0.4.0"),
        ({"vcon": 4}, "0.4.0"),  # not a string: the names decide
        # 0.4.0 names
        ({"critical": ["x"]}, "0.4.0"),
        ({"amended": {"uuid": "u"}}, "0.4.0"),
        ({"attachments": [{"purpose": "tags"}]}, "0.4.0"),
        ({"parties": [{"type": "bot"}]}, "0.4.0"),
        ({"parties": [{"org": "x"}, {"dept": "y"}]}, "0.4.0"),
        ({"analysis": [{"attachment": 0}]}, "0.4.0"),
        (dialog(session_id={"local": "a"}), "0.4.0"),
        ({"dialog": [{"type": "recording-set", "recordings": [1]}]}, "0.4.0"),
        # names valid from some draft on, still valid in 0.4.0: no change
        ({"extensions": ["x"]}, "0.4.0"),
        ({"parties": [{"sip": "sip:a@b", "did": "did:x"}]}, "0.4.0"),
        (dialog(mediatype="audio/x-wav", content_hash="sha512-x"), "0.4.0"),
        (dialog(transfer_target=1, target_dialog=0), "0.4.0"),
        ({"attachments": [{"type": "tags"}]}, "0.4.0"),  # renamed only in core-02 (0.4.0)
        ({"group": []}, "0.4.0"),
        # names a later draft renamed: the newest version that still had them
        ({"must_support": ["x"]}, "0.3.0"),
        ({"appended": {"uuid": "u"}}, "0.3.0"),
        (dialog(session_id="s"), "0.3.0"),
        ({"parties": [{"role": "agent"}]}, "0.0.2"),
        (dialog(**{"transfer-target": 1}), "0.0.2"),
        (dialog(campaign="c"), "0.0.2"),
        (dialog(mimetype="audio/x-wav"), "0.0.1"),
        (dialog(alg="SHA-512", signature="x"), "0.0.1"),
        ({"redacted": {"mimetype": "x"}}, "0.0.1"),
        ({"appended": {"uuid": "u"}, "parties": [{"sip": "s"}]}, "0.3.0"),
        ({"appended": None}, "0.4.0"),  # null is absent
        # conflicting eras: the newer name wins (an old name is lagging, a new one cannot be early)
        ({"extensions": ["x"], **dialog(mimetype="audio/mp3")}, "0.3.0"),
        ({"critical": ["x"], "appended": {}}, "0.4.0"),
        ({"must_support": ["x"], **dialog(session_id="s", mimetype="x")}, "0.3.0"),
    ],
)
def test_an_absent_version_is_inferred_from_the_names_of_its_era(
    doc: dict[str, Any], version: str
) -> None:
    assert detect_version(doc) == version


@pytest.mark.parametrize(
    ("version", "required"),
    [
        (None, True),
        ("0.0.1", False),
        ("0.0.2", False),
        ("0.2.9", False),
        ("0.3.0", True),
        ("0.3", True),
        ("0.4.0", True),
        ("0.10", True),  # numeric, not lexicographic
        ("1", True),
        ("draft", True),  # unparseable counts as later
        ("0.0.1-beta", True),
        ("", True),
    ],
)
def test_requires_vendor(version: str | None, required: bool) -> None:
    assert requires_vendor(version) is required
