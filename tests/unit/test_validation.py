"""The validation policy, rule by rule: one small synthetic vCon per rule."""

from __future__ import annotations

import copy
import json
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vconstore.domain.errors import LimitExceeded, VconInvalid
from vconstore.domain.validation import (
    ValidatedVcon,
    ValidationPolicy,
    parse_timestamp,
    validate_vcon_document,
    validate_vcon_text,
)

UUID = "018f0000-0000-7000-8000-000000000001"
T = "2026-01-01T00:00:00Z"
DEFAULT = ValidationPolicy()
STRICT = ValidationPolicy(strict=True)


def base() -> dict[str, Any]:
    """A clean 0.4.0-era vCon (no `vcon` member) touching every index kind."""
    return {
        "uuid": UUID,
        "created_at": T,
        "parties": [{"name": "Alice", "tel": "+15550001"}, {"name": "Bob", "mailto": "b@x.org"}],
        "dialog": [
            {
                "type": "recording",
                "start": T,
                "duration": 12.5,
                "parties": [0, 1],
                "originator": 0,
                "mediatype": "audio/x-wav",
                "url": "https://example.com/a.wav",
                "content_hash": "sha512-AAAA",
            },
            {
                "type": "text",
                "start": T,
                "parties": 1,
                "mediatype": "text/plain",
                "body": "hi",
                "encoding": "none",
            },
        ],
        "analysis": [
            {"type": "summary", "vendor": "acme", "dialog": [0, 1], "body": "s", "encoding": "none"}
        ],
        "attachments": [
            {
                "purpose": "tags",
                "start": T,
                "party": 0,
                "dialog": 0,
                "body": ["a:b"],
                "encoding": "json",
            }
        ],
    }


DELETE = object()
Edit = Callable[[dict[str, Any]], None]


def edit(*path: str | int, value: Any = DELETE) -> Edit:
    """Set (or with no value, delete) the member at `path`, creating objects on the way."""

    def apply(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = copy.deepcopy(value)

    return apply


def vcon(*edits: Edit) -> dict[str, Any]:
    doc = base()
    for apply in edits:
        apply(doc)
    return doc


def accept(doc: object, policy: ValidationPolicy = DEFAULT, **kwargs: Any) -> ValidatedVcon:
    return validate_vcon_text(json.dumps(doc), policy, **kwargs)


def refuse(doc: object, policy: ValidationPolicy = DEFAULT, **kwargs: Any) -> VconInvalid:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(VconInvalid) as refused:
        validate_vcon_text(text, policy, **kwargs)
    return refused.value


def has(violations: Any, path: str, substring: str) -> bool:
    return any(v.path == path and substring in v.message for v in violations)


@dataclass(frozen=True)
class Case:
    id: str
    edits: tuple[Edit, ...]
    path: str
    message: str


def case(id: str, *edits: Edit, at: str, says: str) -> Case:
    return Case(id, edits, at, says)


def d0(*rest: str | int, value: Any = DELETE) -> Edit:
    return edit("dialog", 0, *rest, value=value)


PARTY_HISTORY = [{"party": 0, "time": T, "event": "join"}]

REFUSED = [
    # uuid
    case("uuid missing", edit("uuid"), at="uuid", says="missing"),
    case("uuid null", edit("uuid", value=None), at="uuid", says="null"),
    case("uuid number", edit("uuid", value=7), at="uuid", says="must be a string"),
    case(
        "uuid not 8-4-4-4-12",
        edit("uuid", value="SAMPLE-1234-abcd-5678"),
        at="uuid",
        says="8-4-4-4-12",
    ),
    case("uuid in braces", edit("uuid", value="{" + UUID + "}"), at="uuid", says="8-4-4-4-12"),
    case("uuid with newline", edit("uuid", value=UUID + "\n"), at="uuid", says="8-4-4-4-12"),
    case("uuid not hex", edit("uuid", value=UUID.replace("f", "g")), at="uuid", says="8-4-4-4-12"),
    # parties
    case("parties missing", edit("parties"), at="parties", says="missing"),
    case("parties null", edit("parties", value=None), at="parties", says="missing"),
    case("parties object", edit("parties", value={}), at="parties", says="must be an array"),
    case("parties empty", edit("parties", value=[]), at="parties", says="empty"),
    case(
        "party a string",
        edit("parties", 1, value="Bob"),
        at="parties[1]",
        says="must be an object, not a string",
    ),
    case("party null", edit("parties", 1, value=None), at="parties[1]", says="not null"),
    # wrong JSON types, top level
    case("vcon number", edit("vcon", value=0.4), at="vcon", says="must be a string"),
    case("created_at number", edit("created_at", value=1), at="created_at", says="string"),
    case("updated_at bool", edit("updated_at", value=True), at="updated_at", says="string"),
    case("subject array", edit("subject", value=["x"]), at="subject", says="must be a string"),
    case("redacted array", edit("redacted", value=[]), at="redacted", says="must be an object"),
    case("amended string", edit("amended", value="x"), at="amended", says="must be an object"),
    case("appended number", edit("appended", value=1), at="appended", says="must be an object"),
    case("group object", edit("group", value={}), at="group", says="must be an array"),
    case("group element", edit("group", value=["x"]), at="group[0]", says="must be an object"),
    case("dialog object", edit("dialog", value={}), at="dialog", says="must be an array"),
    case("analysis string", edit("analysis", value="x"), at="analysis", says="must be an array"),
    case(
        "attachments object",
        edit("attachments", value={}),
        at="attachments",
        says="must be an array",
    ),
    case(
        "extensions string", edit("extensions", value="x"), at="extensions", says="array of strings"
    ),
    case(
        "extensions entry",
        edit("extensions", value=[1]),
        at="extensions[0]",
        says="must be a string",
    ),
    case("critical object", edit("critical", value={}), at="critical", says="array of strings"),
    case(
        "must_support entry",
        edit("must_support", value=[None]),
        at="must_support[0]",
        says="must be a string",
    ),
    # wrong JSON types, inside objects
    case(
        "redacted uuid",
        edit("redacted", value={"uuid": 1, "type": "pii"}),
        at="redacted.uuid",
        says="must be a string",
    ),
    case(
        "redacted type",
        edit("redacted", value={"type": []}),
        at="redacted.type",
        says="must be a string",
    ),
    case(
        "amended content_hash",
        edit("amended", value={"content_hash": 5}),
        at="amended.content_hash",
        says="string or an array of strings",
    ),
    case("group uuid", edit("group", value=[{"uuid": 5}]), at="group[0].uuid", says="string"),
    *[
        case(
            f"party {name}",
            edit("parties", 0, name, value=1),
            at=f"parties[0].{name}",
            says="must be a string",
        )
        for name in (
            "tel",
            "stir",
            "mailto",
            "name",
            "validation",
            "gmlpos",
            "uuid",
            "sip",
            "did",
            "timezone",
            "role",
            "contact_list",
            "type",
            "org",
            "dept",
        )
    ],
    case(
        "party civicaddress",
        edit("parties", 0, "civicaddress", value="x"),
        at="parties[0].civicaddress",
        says="must be an object",
    ),
    case(
        "party civicaddress member",
        edit("parties", 0, "civicaddress", value={"a1": 1}),
        at="parties[0].civicaddress.a1",
        says="must be a string",
    ),
    case(
        "party jCard",
        edit("parties", 0, "jCard", value="x"),
        at="parties[0].jCard",
        says="an object or an array",
    ),
    *[
        case(
            f"dialog {name}", d0(name, value=12345), at=f"dialog[0].{name}", says="must be a string"
        )
        for name in (
            "type",
            "mimetype",
            "mediatype",
            "filename",
            "encoding",
            "url",
            "disposition",
            "application",
            "message_id",
            "alg",
            "signature",
            "campaign",
            "interaction_type",
            "interaction_id",
            "skill",
        )
    ],
    case(
        "dialog null element",
        edit("dialog", 1, value=None),
        at="dialog[1]",
        says="must be an object",
    ),
    case(
        "duration string",
        d0("duration", value="long"),
        at="dialog[0].duration",
        says="must be a number",
    ),
    case(
        "duration boolean",
        d0("duration", value=True),
        at="dialog[0].duration",
        says="must be a number",
    ),
    case(
        "content_hash number",
        d0("content_hash", value=5),
        at="dialog[0].content_hash",
        says="string or an array of strings",
    ),
    case(
        "content_hash entry",
        d0("content_hash", value=["sha512-a", 5]),
        at="dialog[0].content_hash[1]",
        says="must be a string",
    ),
    case(
        "session_id number",
        d0("session_id", value=5),
        at="dialog[0].session_id",
        says="a string, an object",
    ),
    case(
        "session_id entry",
        d0("session_id", value=[{"local": "a"}, 5]),
        at="dialog[0].session_id[1]",
        says="a string, an object",
    ),
    case(
        "session_id nested entry",
        d0("session_id", value=[[True]]),
        at="dialog[0].session_id[0][0]",
        says="a string, an object",
    ),
    case(
        "session_id local",
        d0("session_id", value={"local": 5}),
        at="dialog[0].session_id.local",
        says="must be a string",
    ),
    case(
        "party_history object",
        d0("party_history", value={}),
        at="dialog[0].party_history",
        says="must be an array",
    ),
    case(
        "party_history event",
        d0("party_history", value=[{**PARTY_HISTORY[0], "event": 1}]),
        at="dialog[0].party_history[0].event",
        says="must be a string",
    ),
    case(
        "party_history button",
        d0("party_history", value=[{**PARTY_HISTORY[0], "button": 1}]),
        at="dialog[0].party_history[0].button",
        says="must be a string",
    ),
    case(
        "recordings object",
        d0("recordings", value={}),
        at="dialog[0].recordings",
        says="must be an array",
    ),
    *[
        case(
            f"analysis {name}",
            edit("analysis", 0, name, value=[1]),
            at=f"analysis[0].{name}",
            says="must be a string",
        )
        for name in (
            "type",
            "vendor",
            "product",
            "schema",
            "mediatype",
            "mimetype",
            "filename",
            "encoding",
            "url",
            "alg",
            "signature",
        )
    ],
    case(
        "analysis element",
        edit("analysis", 0, value="x"),
        at="analysis[0]",
        says="must be an object",
    ),
    *[
        case(
            f"attachment {name}",
            edit("attachments", 0, name, value={}),
            at=f"attachments[0].{name}",
            says="must be a string",
        )
        for name in ("type", "purpose", "mediatype", "mimetype", "filename", "encoding", "url")
    ],
    case(
        "attachment element",
        edit("attachments", 0, value=1),
        at="attachments[0]",
        says="must be an object",
    ),
    # negative duration
    case(
        "duration negative",
        d0("duration", value=-30),
        at="dialog[0].duration",
        says="duration -30 is negative",
    ),
    case(
        "duration negative float",
        d0("duration", value=-0.5),
        at="dialog[0].duration",
        says="negative",
    ),
    # indexes
    case(
        "dialog.parties scalar",
        edit("dialog", 1, "parties", value=5),
        at="dialog[1].parties",
        says="party index 5 out of range (2 parties)",
    ),
    case(
        "dialog.parties element",
        d0("parties", value=[0, 5]),
        at="dialog[0].parties[1]",
        says="party index 5 out of range (2 parties)",
    ),
    case(
        "dialog.parties nested",
        d0("parties", value=[[0, 1], [None, 7]]),
        at="dialog[0].parties[1][1]",
        says="party index 7 out of range",
    ),
    case(
        "dialog.parties deeper",
        d0("parties", value=[[[3]]]),
        at="dialog[0].parties[0][0][0]",
        says="party index 3 out of range",
    ),
    case(
        "dialog.parties negative",
        d0("parties", value=[-1]),
        at="dialog[0].parties[0]",
        says="party index -1 out of range (2 parties)",
    ),
    case(
        "dialog.parties fraction",
        d0("parties", value=[0.5]),
        at="dialog[0].parties[0]",
        says="not an integer",
    ),
    case(
        "dialog.parties boolean",
        d0("parties", value=[True]),
        at="dialog[0].parties[0]",
        says="must be a party index",
    ),
    case(
        "dialog.parties string",
        d0("parties", value="0"),
        at="dialog[0].parties",
        says="must be a party index",
    ),
    case(
        "originator",
        d0("originator", value=2),
        at="dialog[0].originator",
        says="party index 2 out of range (2 parties)",
    ),
    *[
        case(
            name,
            d0(name, value=9),
            at=f"dialog[0].{name}",
            says="party index 9 out of range (2 parties)",
        )
        for name in ("transferee", "transferor", "transfer_target", "transfer-target")
    ],
    *[
        case(
            name,
            d0(name, value=2),
            at=f"dialog[0].{name}",
            says="dialog index 2 out of range (2 dialogs)",
        )
        for name in ("original", "consultation", "target_dialog", "target-dialog", "recording_set")
    ],
    case(
        "recordings",
        d0("recordings", value=[0, 4]),
        at="dialog[0].recordings[1]",
        says="dialog index 4 out of range",
    ),
    case(
        "party_history party",
        d0("party_history", value=[{**PARTY_HISTORY[0], "party": 2}]),
        at="dialog[0].party_history[0].party",
        says="party index 2 out of range (2 parties)",
    ),
    case(
        "analysis.dialog",
        edit("analysis", 0, "dialog", value=2),
        at="analysis[0].dialog",
        says="dialog index 2 out of range (2 dialogs)",
    ),
    case(
        "analysis.dialog list",
        edit("analysis", 0, "dialog", value=[0, 2]),
        at="analysis[0].dialog[1]",
        says="dialog index 2 out of range (2 dialogs)",
    ),
    case(
        "analysis.dialog string",
        edit("analysis", 0, "dialog", value="0"),
        at="analysis[0].dialog",
        says="must be a dialog index",
    ),
    case(
        "analysis.attachment",
        edit("analysis", 0, "attachment", value=1),
        at="analysis[0].attachment",
        says="attachment index 1 out of range (1 attachment)",
    ),
    case(
        "analysis.attachment list",
        edit("analysis", 0, "attachment", value=[0, 3]),
        at="analysis[0].attachment[1]",
        says="attachment index 3 out of range (1 attachment)",
    ),
    case(
        "attachment.party",
        edit("attachments", 0, "party", value=2),
        at="attachments[0].party",
        says="party index 2 out of range (2 parties)",
    ),
    case(
        "attachment.dialog",
        edit("attachments", 0, "dialog", value=5),
        at="attachments[0].dialog",
        says="dialog index 5 out of range (2 dialogs)",
    ),
    case(
        "no dialogs at all",
        edit("dialog"),
        edit("attachments"),
        edit("analysis", 0, "dialog", value=0),
        at="analysis[0].dialog",
        says="dialog index 0 out of range (0 dialogs)",
    ),
    case(
        "one dialog",
        edit("dialog", 1),
        edit("analysis", 0, "dialog", value=1),
        at="analysis[0].dialog",
        says="dialog index 1 out of range (1 dialog)",
    ),
    case(
        "one party",
        edit("parties", 1),
        at="dialog[0].parties[1]",
        says="party index 1 out of range (1 party)",
    ),
    # timestamps
    case(
        "created_at yesterday",
        edit("created_at", value="yesterday"),
        at="created_at",
        says="not an ISO 8601 / RFC 3339 timestamp",
    ),
    case(
        "updated_at RFC 2822",
        edit("updated_at", value="Wed, 18 May 2022 23:05:05 -0000"),
        at="updated_at",
        says="ISO 8601",
    ),
    case(
        "dialog start",
        d0("start", value="2022-13-01T00:00:00Z"),
        at="dialog[0].start",
        says="ISO 8601",
    ),
    case(
        "attachment start",
        edit("attachments", 0, "start", value=""),
        at="attachments[0].start",
        says="ISO 8601",
    ),
    case(
        "party_history time",
        d0("party_history", value=[{**PARTY_HISTORY[0], "time": "now"}]),
        at="dialog[0].party_history[0].time",
        says="ISO 8601",
    ),
    case(
        "non-ASCII digits",
        edit("created_at", value="\uff12026-01-01T00:00:00Z"),
        at="created_at",
        says="ISO 8601",
    ),
    # dialog type, encoding
    case(
        "dialog type unknown",
        d0("type", value="video"),
        at="dialog[0].type",
        says='dialog type "video" is not one of recording, text, transfer, incomplete,'
        " recording-set",
    ),
    case("dialog type missing", d0("type"), at="dialog[0].type", says="dialog type missing"),
    case("dialog type null", d0("type", value=None), at="dialog[0].type", says="missing"),
    case(
        "encoding unknown",
        edit("dialog", 1, "encoding", value="base32"),
        at="dialog[1].encoding",
        says='encoding "base32" is not one of',
    ),
    case(
        "redacted encoding",
        edit("redacted", value={"body": "x", "encoding": "utf8"}),
        at="redacted.encoding",
        says="is not one of",
    ),
    # analysis vendor
    case(
        "vendor missing, no vcon",
        edit("analysis", 0, "vendor"),
        at="analysis[0].vendor",
        says="vendor missing",
    ),
    case(
        "vendor null",
        edit("analysis", 0, "vendor", value=None),
        at="analysis[0].vendor",
        says="vendor missing",
    ),
    *[
        case(
            f"vendor missing, vcon {v}",
            edit("vcon", value=v),
            edit("analysis", 0, "vendor"),
            at="analysis[0].vendor",
            says="vendor missing",
        )
        for v in ("0.3.0", "0.4.0", "0.10", "1.0", "draft-x")
    ],
    # critical / must_support
    case(
        "critical",
        edit("critical", value=["x-ext"]),
        at="critical[0]",
        says='extension "x-ext" is not supported',
    ),
    case(
        "must_support",
        edit("must_support", value=["ok", "x-ext"]),
        at="must_support[1]",
        says="must_support is the core-00 name of critical",
    ),
]


@pytest.mark.parametrize("rule", REFUSED, ids=[c.id for c in REFUSED])
def test_refused(rule: Case) -> None:
    refused = refuse(vcon(*rule.edits))
    assert refused.reason == "VCON_INVALID"
    assert has(refused.violations, rule.path, rule.message), refused.violations


WARNED = [
    case(
        "created_at without offset",
        edit("created_at", value="2026-01-01T00:00:00"),
        at="created_at",
        says="no UTC offset; indexed as UTC",
    ),
    case(
        "a date alone",
        edit("created_at", value="2026-01-01"),
        at="created_at",
        says="no UTC offset",
    ),
    case(
        "updated_at without offset",
        edit("updated_at", value="2026-01-01 10:00"),
        at="updated_at",
        says="no UTC offset",
    ),
    case(
        "dialog start without offset",
        d0("start", value="2024-12-18T14:08:44.685843"),
        at="dialog[0].start",
        says="no UTC offset; indexed as UTC",
    ),
    case(
        "attachment start without offset",
        edit("attachments", 0, "start", value="20260101T00"),
        at="attachments[0].start",
        says="no UTC offset",
    ),
    case(
        "party_history time without offset",
        d0("party_history", value=[{**PARTY_HISTORY[0], "time": "2026-01-01T00:00:01"}]),
        at="dialog[0].party_history[0].time",
        says="no UTC offset",
    ),
    case(
        "created_at missing",
        edit("created_at"),
        at="created_at",
        says="ordered by the time received",
    ),
    case("created_at null", edit("created_at", value=None), at="created_at", says="missing"),
    case(
        "base64 encoding",
        edit("dialog", 1, "encoding", value="base64"),
        at="dialog[1].encoding",
        says='legacy encoding "base64"',
    ),
    case(
        "body without encoding",
        edit("dialog", 1, "encoding"),
        at="dialog[1].body",
        says="inline body without encoding",
    ),
    case(
        "object body without encoding",
        edit("analysis", 0, "encoding"),
        edit("analysis", 0, "body", value={"a": 1}),
        at="analysis[0].body",
        says="without encoding",
    ),
    case(
        "object body with encoding none",
        edit("analysis", 0, "body", value={"a": 1}),
        at="analysis[0].body",
        says='body is an object but encoding is "none"',
    ),
    case(
        "array body with base64url",
        edit("attachments", 0, "encoding", value="base64url"),
        at="attachments[0].body",
        says='body is an array but encoding is "base64url"',
    ),
    case(
        "number body with none",
        edit("dialog", 1, "body", value=5),
        at="dialog[1].body",
        says='body is a number but encoding is "none"',
    ),
    case(
        "redacted body without encoding",
        edit("redacted", value={"type": "pii", "body": "x"}),
        at="redacted.body",
        says="without encoding",
    ),
    case(
        "group body",
        edit("group", value=[{"body": {"uuid": UUID}, "encoding": "none"}]),
        at="group[0].body",
        says="body is an object",
    ),
    case(
        "unknown version",
        edit("vcon", value="0.5.0"),
        at="vcon",
        says='unknown vCon version "0.5.0"',
    ),
    case(
        "http url",
        d0("url", value="http://example.com/a.wav"),
        at="dialog[0].url",
        says="url is not https",
    ),
    case("s3 url", d0("url", value="s3://bucket/a.wav"), at="dialog[0].url", says="not https"),
    case(
        "attachment ftp url",
        edit("attachments", 0, "url", value="ftp://x"),
        at="attachments[0].url",
        says="not https",
    ),
    case(
        "amended url",
        edit("amended", value={"url": "http://x", "content_hash": "sha512-x"}),
        at="amended.url",
        says="not https",
    ),
    case(
        "analysis url",
        edit("analysis", 0, "url", value="file:///tmp/x"),
        at="analysis[0].url",
        says="not https",
    ),
]


@pytest.mark.parametrize("rule", WARNED, ids=[c.id for c in WARNED])
def test_warned(rule: Case) -> None:
    got = accept(vcon(*rule.edits))
    assert [(w.path, rule.message in w.message) for w in got.warnings] == [(rule.path, True)]


@pytest.mark.parametrize("rule", WARNED, ids=[c.id for c in WARNED])
def test_strict_mode_refuses_each_warning(rule: Case) -> None:
    refused = refuse(vcon(*rule.edits), STRICT)
    assert [(v.path, rule.message in v.message) for v in refused.violations] == [(rule.path, True)]


def test_strict_mode_accepts_a_clean_vcon_with_no_warnings() -> None:
    got = accept(base(), STRICT)
    assert got.warnings == ()


# --- accepted without warnings -------------------------------------------------------


def renamed_members_document(version: str | None) -> dict[str, Any]:
    """Every renamed member, under both of its names."""
    doc = base()
    if version is not None:
        doc["vcon"] = version
    recording = doc["dialog"][0]
    del recording["mediatype"], recording["content_hash"]
    recording.update(mimetype="audio/x-wav", alg="SHA-512", signature="abc", session_id="s-1")
    doc["dialog"][1].update(session_id={"local": "a", "remote": "b"})
    doc["dialog"] += [
        {
            "type": "transfer",
            "start": T,
            "transferee": 0,
            "transferor": 1,
            "transfer-target": 1,
            "original": 0,
            "target-dialog": 1,
        },
        {
            "type": "transfer",
            "start": T,
            "transferee": 0,
            "transferor": 1,
            "transfer_target": 1,
            "original": 0,
            "consultation": 1,
            "target_dialog": 1,
        },
    ]
    doc["attachments"].append(
        {
            "type": "tags",
            "start": T,
            "party": 1,
            "dialog": 1,
            "mimetype": "text/plain",
            "body": "x",
            "encoding": "none",
        }
    )
    doc["appended"] = {"uuid": UUID}
    doc["must_support"] = ["ext-a"]
    doc["critical"] = ["ext-a"]
    doc["extensions"] = ["ext-a"]
    return doc


@pytest.mark.parametrize("version", [None, "0.0.1", "0.0.2", "0.3.0", "0.4.0"])
def test_both_names_of_every_renamed_member_are_understood_in_every_version(
    version: str | None,
) -> None:
    policy = ValidationPolicy(supported_extensions=frozenset({"ext-a"}))
    got = accept(renamed_members_document(version), policy)
    assert got.warnings == ()
    amended = renamed_members_document(version)
    amended["amended"] = amended.pop("appended")
    assert accept(amended, policy).warnings == ()


ACCEPTED = [
    case("the base document", at="", says=""),
    case(
        "nulls are absent",
        edit("subject", value=None),
        edit("appended", value=None),
        edit("redacted", value=None),
        edit("vcon", value=None),
        edit("group", value=None),
        d0("duration", value=None),
        edit("analysis", 0, "product", value=None),
        at="",
        says="",
    ),
    case(
        "null arrays", edit("analysis", value=None), edit("attachments", value=None), at="", says=""
    ),
    case(
        "placeholder dialog",
        edit("dialog", 1, value={}),
        edit("analysis", 0, "dialog", value=0),
        at="",
        says="",
    ),
    case(
        "multichannel parties",
        d0("parties", value=[[0, 1], None, 1, [None, 0], [[1]]]),
        at="",
        says="",
    ),
    case(
        "integral float indexes",
        d0("parties", value=[0.0, 1.0]),
        edit("attachments", 0, "party", value=1.0),
        at="",
        says="",
    ),
    case(
        "empty body without encoding",
        edit("dialog", 1, "body", value=""),
        edit("dialog", 1, "encoding"),
        at="",
        says="",
    ),
    case(
        "any body with json",
        edit("analysis", 0, "body", value={"a": [1, None]}),
        edit("analysis", 0, "encoding", value="json"),
        at="",
        says="",
    ),
    case("content_hash array", d0("content_hash", value=["sha512-a", "sha256-b"]), at="", says=""),
    case(
        "unknown members everywhere",
        edit("meta", value={"duration": "eighteen"}),
        edit("parties", 0, "id", value=[1, {"x": None}]),
        d0("extra", value=-1),
        edit("analysis", 0, "schema_version", value=3),
        edit("tags", value={}),
        at="",
        says="",
    ),
    case("uppercase HTTPS", d0("url", value="HTTPS://EXAMPLE.COM/A"), at="", says=""),
    case(
        "timestamp forms",
        edit("created_at", value="2026-01-01t00:00:00.123456+05:30"),
        edit("updated_at", value="2016-12-31T23:59:60z"),
        d0("start", value="20260101T000000Z"),
        at="",
        says="",
    ),
    case(
        "vendor not needed in 0.0.1",
        edit("vcon", value="0.0.1"),
        edit("analysis", 0, "vendor"),
        at="",
        says="",
    ),
    case(
        "vendor not needed in 0.0.2",
        edit("vcon", value="0.0.2"),
        edit("analysis", 0, "vendor"),
        at="",
        says="",
    ),
    case(
        "recording-set",
        edit("dialog", 1, value={"type": "recording-set", "start": T, "recordings": [0]}),
        d0("recording_set", value=1),
        at="",
        says="",
    ),
    case(
        "incomplete and transfer types",
        edit("dialog", 1, value={"type": "incomplete", "disposition": "busy"}),
        at="",
        says="",
    ),
    case(
        "session_id per channel",
        d0("session_id", value=[[{"local": "a"}, None], {}, None, "s"]),
        at="",
        says="",
    ),
    case("duration zero", d0("duration", value=0), at="", says=""),
    case(
        "party civicaddress and jCard",
        edit("parties", 0, "civicaddress", value={"a1": "x"}),
        edit("parties", 0, "jCard", value=["vcard", []]),
        at="",
        says="",
    ),
    case(
        "amended with url and hash",
        edit("amended", value={"uuid": UUID, "url": "https://x", "content_hash": ["sha512-x"]}),
        at="",
        says="",
    ),
]


@pytest.mark.parametrize("rule", ACCEPTED, ids=[c.id for c in ACCEPTED])
def test_accepted_without_warnings(rule: Case) -> None:
    doc = vcon(*rule.edits)
    text = json.dumps(doc, indent=1)
    got = validate_vcon_text(text, STRICT)
    assert got.warnings == ()
    assert got.text == text
    assert got.document == doc
    assert got.uuid == UUID
    assert got.signed is False
    assert got.assigned_uuid is False


def test_supported_extensions_are_allowed_in_critical_and_must_support() -> None:
    doc = vcon(edit("critical", value=["a"]), edit("must_support", value=["b"]))
    assert accept(doc, ValidationPolicy(supported_extensions=frozenset({"a", "b"}))).warnings == ()
    refused = refuse(doc, ValidationPolicy(supported_extensions=frozenset({"a"})))
    assert [v.path for v in refused.violations] == ["must_support[0]"]


def test_every_violation_is_listed_together() -> None:
    refused = refuse(
        vcon(
            edit("uuid"),
            d0("duration", value=-1),
            d0("type", value="x"),
            edit("attachments", 0, "party", value=9),
        )
    )
    assert [v.path for v in refused.violations] == [
        "uuid",
        "dialog[0].type",
        "dialog[0].duration",
        "attachments[0].party",
    ]


@pytest.mark.parametrize(("count", "listed"), [(100, 100), (101, 100), (2000, 100)])
def test_at_most_100_violations_are_listed_with_the_true_count(count: int, listed: int) -> None:
    doc = vcon(edit("dialog", value=[{"type": "video"}] * count))
    refused = refuse(doc)
    assert len(refused.violations) == listed
    assert refused.total == count
    assert refused.violations[-1].path == f"dialog[{listed - 1}].type"


def test_a_vcon_must_be_a_json_object() -> None:
    for text in ("[]", '"x"', "1"):
        refused = refuse(text)
        assert refused.reason == "VCON_NOT_OBJECT"
        assert "must be a JSON object" in refused.violations[0].message


def test_syntax_and_i_json_refusals_come_through() -> None:
    assert refuse('{"uuid": 1,').reason == "VCON_NOT_JSON"
    duplicate = refuse('{"uuid": "a", "parties": [{"name": "A", "name": "B"}]}')
    assert duplicate.reason == "VCON_NOT_IJSON"
    assert has(duplicate.violations, "parties[0].name", 'duplicate member name "name"')


# --- limits ---------------------------------------------------------------------------


def test_size_limit_counts_utf8_bytes_before_parsing() -> None:
    minimal = {"uuid": UUID, "created_at": T, "parties": [{"name": ""}]}
    size = len(json.dumps(minimal).encode())
    fits = dict(minimal, parties=[{"name": "é" * 10}])  # 10 characters, 20 bytes
    limit = size + 20
    policy = ValidationPolicy(max_vcon_bytes=limit)
    text = json.dumps(fits, ensure_ascii=False)
    assert len(text.encode()) == limit
    accept_text = validate_vcon_text(text, policy)
    assert accept_text.text == text
    over = json.dumps(dict(minimal, parties=[{"name": "é" * 11}]), ensure_ascii=False)
    assert len(over) < limit < len(over.encode())  # only the byte count is over
    with pytest.raises(LimitExceeded) as too_big:
        validate_vcon_text(over, policy)
    assert too_big.value.limit_name == "max_vcon_bytes"
    assert too_big.value.limit == limit
    with pytest.raises(LimitExceeded):
        validate_vcon_text("x" * (limit + 1), policy)  # refused before any parsing


def test_array_length_limit_names_the_path() -> None:
    policy = ValidationPolicy(max_array_length=3)
    accept(vcon(edit("extensions", value=["a", "b", "c"])), policy)
    with pytest.raises(LimitExceeded) as too_long:
        accept(vcon(edit("parties", 0, "meta", value={"list": [1, 2, 3, 4]})), policy)
    assert too_long.value.limit_name == "max_array_length"
    assert too_long.value.violations[0].path == "parties[0].meta.list"


def test_depth_limit() -> None:
    policy = ValidationPolicy(max_depth=6)
    # root{ analysis[ {body{ a[ [ ] ] } } ] }: 6 levels.
    accept(
        vcon(
            edit("analysis", 0, "body", value={"a": [[]]}),
            edit("analysis", 0, "encoding", value="json"),
        ),
        policy,
    )
    with pytest.raises(LimitExceeded) as too_deep:
        accept(
            vcon(
                edit("analysis", 0, "body", value={"a": [[[]]]}),
                edit("analysis", 0, "encoding", value="json"),
            ),
            policy,
        )
    assert too_deep.value.limit_name == "max_depth"
    assert too_deep.value.violations[0].path == "analysis[0].body.a[0][0]"


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_million_nested_containers_are_refused(opener: str) -> None:
    with pytest.raises(LimitExceeded) as too_deep:
        validate_vcon_text(opener * 1_000_000, DEFAULT)
    assert too_deep.value.limit_name == "max_depth"


# --- assign_uuid ----------------------------------------------------------------------


def test_assign_uuid_inserts_a_uuid7_as_the_first_member_and_changes_nothing_else() -> None:
    text = '  {\n  "created_at": "2026-01-01T00:00:00Z",\n  "parties": [{"name": "A"}]\n}\n'
    got = validate_vcon_text(text, DEFAULT, assign_uuid=True)
    assert got.assigned_uuid is True
    assert uuidlib.UUID(got.uuid).version == 7
    assert got.text == f'  {{"uuid":"{got.uuid}",' + text[3:]
    assert list(json.loads(got.text)) == ["uuid", "created_at", "parties"]
    assert list(got.document) == ["uuid", "created_at", "parties"]
    assert got.document["uuid"] == got.uuid
    again = validate_vcon_text(text, DEFAULT, assign_uuid=True)
    assert again.uuid != got.uuid


def test_assign_uuid_leaves_a_present_uuid_alone() -> None:
    text = json.dumps(base())
    got = validate_vcon_text(text, DEFAULT, assign_uuid=True)
    assert (got.text, got.uuid, got.assigned_uuid) == (text, UUID, False)


def test_assign_uuid_does_not_replace_a_null_uuid_or_hide_other_violations() -> None:
    assert has(refuse(vcon(edit("uuid", value=None)), assign_uuid=True).violations, "uuid", "null")
    refused = refuse(vcon(edit("uuid"), d0("duration", value=-1)), assign_uuid=True)
    assert [v.path for v in refused.violations] == ["dialog[0].duration"]


# --- typed documents, forms ---------------------------------------------------------------


def test_validate_document_stores_compact_json() -> None:
    doc = vcon(edit("subject", value="é ☃ \U0001f600"))
    got = validate_vcon_document(doc, DEFAULT)
    assert got.text == json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    assert got.document == doc
    assigned = validate_vcon_document(vcon(edit("uuid")), DEFAULT, assign_uuid=True)
    assert assigned.text.startswith(f'{{"uuid":"{assigned.uuid}","created_at"')


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "VCON_NOT_JSON"),
        (b"bytes", "VCON_NOT_JSON"),
        (2**60, "VCON_NOT_IJSON"),
    ],
)
def test_validate_document_refuses_what_json_cannot_carry(value: object, reason: str) -> None:
    with pytest.raises(VconInvalid) as refused:
        validate_vcon_document(vcon(edit("meta", value=value)), DEFAULT)
    assert refused.value.reason == reason


def test_an_encrypted_vcon_is_refused() -> None:
    jwe = {"protected": "e30", "recipients": [], "iv": "AA", "ciphertext": "AA", "tag": "AA"}
    refused = refuse(jwe)
    assert refused.reason == "VCON_ENCRYPTED"
    assert "cannot be stored" in refused.violations[0].message
    assert "decrypt" in refused.violations[0].message


def test_a_hybrid_with_unsigned_members_is_an_unsigned_vcon() -> None:
    # vcon-lib's sign() puts payload/signatures next to the unsigned members.
    doc = vcon(edit("payload", value="e30"), edit("signatures", value=[{"signature": "x"}]))
    got = accept(doc)
    assert got.signed is False
    assert got.document == doc


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2022-06-21T17:53:26.000+00:00", datetime(2022, 6, 21, 17, 53, 26, tzinfo=UTC)),
        ("2025-03-01T15:21:12-05:00", datetime(2025, 3, 1, 20, 21, 12, tzinfo=UTC)),
        ("2024-12-18T14:08:44.685843", datetime(2024, 12, 18, 14, 8, 44, 685843, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_gives_aware_utc(text: str, instant: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo in (UTC, UTC)


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "Wed, 18 May 2022 23:05:05 -0000",
        "",
        "2022-02-30T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_parse_timestamp_refuses_non_iso_8601(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_validating_a_4kb_vcon_is_fast() -> None:
    doc = base()
    doc["dialog"] += [dict(doc["dialog"][1], body="x" * 150) for _ in range(14)]
    text = json.dumps(doc)
    assert 3500 < len(text) < 6000
    started = time.perf_counter()
    for _ in range(200):
        validate_vcon_text(text, DEFAULT)
    per_call = (time.perf_counter() - started) / 200
    assert per_call < 0.003  # measured ~60 µs; generous for loaded CI machines


def test_a_timestamp_out_of_range_in_utc_says_so() -> None:
    refused = refuse(vcon(edit("created_at", value="0001-01-01T00:00:00+14:00")))
    assert refused.violations[0].path == "created_at"
    assert "outside the years 0001-9999" in refused.violations[0].message
