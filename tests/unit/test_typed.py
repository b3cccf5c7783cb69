"""The typed conversion (vconstore.domain.typed): lossless for any JSON object
under RFC 8785 canonical JSON, and actually typed (not everything-in-extra)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vconstore.domain.typed import (
    TypedConversionError,
    parties_only,
    vcon_from_json_value,
    vcon_to_json_value,
)
from vconstore_proto.vcon.v1 import vcon_pb2

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "public"
# Envelopes, not vCons: the JWS is checked through its payload below.
ENVELOPE_MEMBERS = ("payload", "ciphertext", "cyphertext")
SAFE_INT = 2**53 - 1


def canonical(value: Any) -> bytes:
    return rfc8785.dumps(value)


def assert_round_trips(doc: dict[str, Any]) -> vcon_pb2.Vcon:
    message = vcon_from_json_value(doc)
    assert canonical(vcon_to_json_value(message)) == canonical(doc)
    # The typed form travels over gRPC: it must survive the wire too.
    wire = vcon_pb2.Vcon.FromString(message.SerializeToString())
    assert canonical(vcon_to_json_value(wire)) == canonical(doc)
    # Converting the output again lands every member in the same place.
    assert vcon_from_json_value(vcon_to_json_value(message)) == message
    return message


def load(name: str) -> dict[str, Any]:
    (path,) = CORPUS.glob(f"{name}-*.json")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


# ---------------------------------------------------------------------------
# (a) The public corpus

CORPUS_FILES = sorted(CORPUS.glob("*.json"))


def _is_envelope(path: Path) -> bool:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return not isinstance(doc, dict) or any(m in doc for m in ENVELOPE_MEMBERS)


# JWS/JWE envelopes are not vCons; the signed one's payload has its own test.
UNSIGNED_FILES = [p for p in CORPUS_FILES if not _is_envelope(p)]


def test_corpus_is_there() -> None:
    assert len(CORPUS_FILES) >= 29, CORPUS
    assert len(CORPUS_FILES) - len(UNSIGNED_FILES) == 3  # 07 (JWS), 08 and 16 (JWE)


@pytest.mark.parametrize("path", UNSIGNED_FILES, ids=lambda p: p.name)
def test_corpus_file_round_trips(path: Path) -> None:
    assert_round_trips(json.loads(path.read_text(encoding="utf-8")))


def test_signed_corpus_payload_round_trips() -> None:
    payload = load("07")["payload"]
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    message = assert_round_trips(doc)
    assert message.dialog[0].type == "recording"
    assert message.dialog[0].content_hash.WhichOneof("form") is not None


# ---------------------------------------------------------------------------
# (b) Property tests

SPECIAL_STRINGS = [
    "",
    "𝄞 😀 𓀀",  # astral plane
    "שלום עולם مرحبا",  # RTL
    "e\u0301 a\u0308\u0323 \u1100\u1161",  # combining marks, conjoining jamo
    "\x00\x01\x1f\x7f\u2028\u2029\ufeff\ufffd",  # controls and odd separators
    '"\\/\b\f\n\r\t',
    "extra_members",
]
texts = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_STRINGS))
numbers = st.one_of(
    st.integers(-SAFE_INT, SAFE_INT),
    st.sampled_from([0, -0.0, SAFE_INT, -SAFE_INT, 2**31, -(2**31) - 1, 1e-7, 6.02e23, 1.5e300]),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, texts)


def json_values(keys: st.SearchStrategy[str] = texts) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )


json_value = json_values()
extension_members = st.dictionaries(
    st.one_of(texts.map(lambda s: "x_" + s), st.sampled_from(["meta", "extra_members", "tags"])),
    json_value,
    max_size=2,
)


def vobject(**members: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any subset of `members` plus extension members."""
    return st.builds(
        lambda known, ext: {**ext, **known},
        st.fixed_dictionaries({}, optional=members),
        extension_members,
    )


index = st.integers(0, 40)
timestamp = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"), st.sampled_from(["NOT-A-DATE", ""])
)
body = st.one_of(texts, json_value, st.lists(json_value, max_size=3), numbers)
content_hash = st.one_of(texts, st.lists(texts, max_size=3))
index_or_list = st.one_of(index, st.lists(index, max_size=4))
dialog_parties = st.one_of(
    index,
    st.lists(st.one_of(index, st.lists(index, max_size=3), st.none()), max_size=4),
)
session_id = st.one_of(
    texts,
    st.fixed_dictionaries({"local": texts, "remote": texts}),
    st.lists(st.one_of(st.fixed_dictionaries({"local": texts, "remote": texts}), texts)),
)
jcard = st.one_of(
    st.builds(lambda n: ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", n]]], texts),
    st.dictionaries(texts, texts, max_size=3),
)
inline = {
    "body": body,
    "encoding": st.sampled_from(["none", "base64url", "json", "base64"]),
    "mediatype": texts,
    "mimetype": texts,
    "url": texts,
    "content_hash": content_hash,
    "alg": texts,
    "signature": texts,
    "filename": texts,
}
civicaddress = vobject(**{k: texts for k in ("country", "a1", "a3", "sts", "hno", "pc", "loc")})
party = vobject(
    tel=texts, name=texts, mailto=texts, sip=texts, did=texts, uuid=texts, stir=texts,
    validation=texts, jCard=jcard, gmlpos=texts, civicaddress=civicaddress, timezone=texts,
    type=st.sampled_from(["person", "bot", "organization"]), org=texts, dept=texts,
    role=texts, contact_list=texts,
)  # fmt: skip
party_history = vobject(party=index, time=timestamp, event=texts, button=texts)
dialog = vobject(
    type=st.sampled_from(["recording", "text", "transfer", "incomplete", "recording-set"]),
    start=timestamp,
    duration=st.one_of(st.integers(0, SAFE_INT), st.floats(0, 1e9), st.just(30.0)),
    parties=dialog_parties,
    originator=index,
    disposition=texts,
    party_history=st.lists(party_history, max_size=2),
    transferee=index, transferor=index, transfer_target=index, original=index,
    consultation=index, target_dialog=index,
    **{"transfer-target": index, "target-dialog": index},
    campaign=texts, interaction_type=texts, interaction_id=texts, skill=texts,
    session_id=session_id, application=texts, message_id=texts,
    recordings=st.lists(index, max_size=3), recording_set=index,
    **inline,
)  # fmt: skip
analysis = vobject(
    type=texts, dialog=index_or_list, attachment=index_or_list, vendor=texts, product=texts,
    schema=texts, **inline,
)  # fmt: skip
attachment = vobject(
    type=texts, purpose=texts, start=timestamp, party=index, dialog=index, **inline
)
pointer = {"uuid": texts, "url": texts, "content_hash": content_hash}
# The container-era inline and integrity members of the pointer objects.
legacy_inline = {k: inline[k] for k in ("body", "encoding", "mimetype", "alg", "signature")}
redacted = vobject(type=texts, **pointer, **legacy_inline)
amended = vobject(**pointer)
appended = vobject(**pointer, **legacy_inline)
group = vobject(**pointer, **legacy_inline)
names = st.lists(texts, max_size=3)
valid_vcons = vobject(
    vcon=st.sampled_from(["0.0.1", "0.0.2", "0.3.0", "0.4.0"]), uuid=texts, extensions=names,
    critical=names, must_support=names, created_at=timestamp, updated_at=timestamp,
    subject=texts, redacted=redacted, amended=amended, appended=appended,
    group=st.lists(group, max_size=2), parties=st.lists(party, max_size=3),
    dialog=st.lists(dialog, max_size=3), analysis=st.lists(analysis, max_size=2),
    attachments=st.lists(attachment, max_size=2),
)  # fmt: skip

# Every member name of the model, so that arbitrary values meet known names
# (and so the fits / does-not-fit decision) at every level.
MEMBER_NAMES = sorted(
    {
        fd.json_name
        for descriptor in vcon_pb2.DESCRIPTOR.message_types_by_name.values()
        if "extra_members" in descriptor.fields_by_name
        for fd in descriptor.fields
    }
)
vocabulary_keys = st.one_of(st.sampled_from(MEMBER_NAMES), texts)
arbitrary_objects = st.dictionaries(
    vocabulary_keys, json_values(vocabulary_keys), max_size=6
) | st.dictionaries(texts, json_value, max_size=6)

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(valid_vcons)
def test_valid_vcons_round_trip(doc: dict[str, Any]) -> None:
    assert_round_trips(doc)


@PROPERTY_SETTINGS
@given(arbitrary_objects)
def test_arbitrary_objects_round_trip(doc: dict[str, Any]) -> None:
    assert_round_trips(doc)


@PROPERTY_SETTINGS
@given(st.one_of(valid_vcons, arbitrary_objects))
def test_parties_only_is_the_typed_form_of_parties_alone(doc: dict[str, Any]) -> None:
    expected = {"parties": doc["parties"]} if "parties" in doc else {}
    got = parties_only(vcon_from_json_value(doc))
    assert got == vcon_from_json_value(expected)
    assert canonical(vcon_to_json_value(got)) == canonical(expected)


# ---------------------------------------------------------------------------
# (c) The typed form is typed


def extra_keys(message: Any) -> set[str]:
    return set(message.extra_members.fields) if message.HasField("extra_members") else set()


def test_dialog_parties_forms() -> None:
    message = assert_round_trips(
        {"dialog": [{"parties": [0, [1, 2], None, []]}, {"parties": 3}, {"parties": [1, 0]}]}
    )
    channels = message.dialog[0].parties.channels.channels
    assert [c.WhichOneof("form") for c in channels] == [
        "index",
        "indexes",
        "placeholder",
        "indexes",
    ]
    assert channels[0].index == 0
    assert list(channels[1].indexes.indexes) == [1, 2]
    assert channels[2].placeholder == struct_pb2.NULL_VALUE
    assert list(channels[3].indexes.indexes) == []
    assert message.dialog[1].parties.index == 3
    assert [c.index for c in message.dialog[2].parties.channels.channels] == [1, 0]
    assert not any(extra_keys(d) for d in message.dialog)


@pytest.mark.parametrize(
    "parties",
    [[], [0, "1"], [0, [1, True]], [[[0]]], [0.5], "0", True, {"0": 1}, None, 2**31, [2**31]],
)
def test_dialog_parties_that_do_not_fit_stay_whole_in_extra(parties: object) -> None:
    message = assert_round_trips({"dialog": [{"parties": parties}]})
    assert not message.dialog[0].HasField("parties")
    assert extra_keys(message.dialog[0]) == {"parties"}


def test_content_hash_and_index_or_list_forms() -> None:
    message = assert_round_trips(
        {
            "dialog": [{"content_hash": "sha512-abc"}, {"content_hash": ["sha512-a", "sha1-b"]}],
            "analysis": [
                {"dialog": 0, "attachment": [1, 2]},
                {"dialog": [], "attachment": [1, "2"]},
            ],
        }
    )
    assert message.dialog[0].content_hash.hash == "sha512-abc"
    assert list(message.dialog[1].content_hash.list.hashes) == ["sha512-a", "sha1-b"]
    assert message.analysis[0].dialog.index == 0
    assert list(message.analysis[0].attachment.list.indexes) == [1, 2]
    assert extra_keys(message.analysis[1]) == {"dialog", "attachment"}


def test_members_land_in_their_fields() -> None:
    message = assert_round_trips(load("25"))
    assert message.uuid == "019822fb-309a-8716-9dd8-dd37220d739c"
    assert list(message.must_support) == ["encryption"]
    assert list(message.extensions) == ["video", "encryption"]
    assert message.HasField("redacted") and message.redacted.ByteSize() == 0
    assert message.parties[0].sip == "sip:john@example.com"
    assert message.parties[0].timezone == "America/New_York"
    assert message.parties[0].jcard.struct_value.fields["fn"].string_value == "John Doe"
    first = message.dialog[0]
    assert first.session_id.string_value == "session-12345"
    assert first.body.string_value == "Hello, this is a test message!"
    assert first.content_hash.hash.startswith("c8d3d67f")
    assert extra_keys(first) == {"metadata", "meta"}
    # Empty arrays: a repeated field cannot tell [] from absent.
    assert extra_keys(message) == {"group", "attachments", "analysis"}

    legacy = assert_round_trips(load("20"))
    assert legacy.dialog[0].mimetype
    assert not legacy.dialog[0].HasField("mediatype")
    assert "mimetype" not in extra_keys(legacy.dialog[0])

    analysed = assert_round_trips(load("03"))
    assert analysed.analysis[0].body.WhichOneof("kind") == "struct_value"
    assert analysed.analysis[0].vendor


def test_wrong_types_and_unknown_members_go_to_extra() -> None:
    message = assert_round_trips(load("93"))
    assert extra_keys(message) == {"meta", "parties", "analysis"}
    assert extra_keys(message.dialog[0]) == {"duration", "mimetype"}
    assert message.dialog[0].type == "recording"

    message = assert_round_trips(
        {"subject": None, "group": [], "redacted": [], "parties": [{"name": 1}, "x"]}
    )
    assert not message.HasField("subject")
    assert not message.group and not message.parties
    assert extra_keys(message) == {"subject", "group", "redacted", "parties"}
    assert message.extra_members.fields["subject"].WhichOneof("kind") == "null_value"


def test_a_member_named_extra_members_is_an_extension_member() -> None:
    message = assert_round_trips({"extra_members": {"a": 1}, "parties": [{"extra_members": 2}]})
    assert set(message.extra_members.fields) == {"extra_members"}
    assert set(message.parties[0].extra_members.fields) == {"extra_members"}


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        (1, True),
        (1.0, True),
        (-(2**31), True),
        (2**31 - 1, True),
        (2**31, False),
        (-(2**31) - 1, False),
        (1.5, False),
        (True, False),
        (False, False),
        ("1", False),
        (None, False),
    ],
)
def test_int32_fields_take_only_fitting_numbers(value: object, fits: bool) -> None:
    message = assert_round_trips({"dialog": [{"originator": value, "recordings": [0, value]}]})
    first = message.dialog[0]
    assert first.HasField("originator") is fits
    assert bool(first.recordings) is fits
    assert extra_keys(first) == (set() if fits else {"originator", "recordings"})


@pytest.mark.parametrize(
    ("value", "fits"), [(0, True), (30, True), (12.5, True), (SAFE_INT, True), (True, False)]
)
def test_duration_takes_numbers(value: object, fits: bool) -> None:
    message = assert_round_trips({"dialog": [{"duration": value}]})
    assert message.dialog[0].HasField("duration") is fits
    if fits:
        assert message.dialog[0].duration == value


def test_value_fields_take_any_json() -> None:
    values: list[object] = [None, True, 0, "s", [], {}, [1, [None]], {"a": {}}]
    for value in values:
        message = assert_round_trips({"dialog": [{"body": value, "session_id": value}]})
        assert message.dialog[0].HasField("body")
        assert message.dialog[0].HasField("session_id")
        assert not extra_keys(message.dialog[0])


def test_present_empty_objects_come_back_as_empty_objects() -> None:
    doc: dict[str, Any] = {
        "redacted": {},
        "amended": {},
        "appended": {},
        "parties": [{}, {"civicaddress": {}}],
        "dialog": [{"party_history": [{}]}],
    }
    message = assert_round_trips(doc)
    assert vcon_to_json_value(message) == doc
    assert message.HasField("redacted") and message.HasField("amended")
    assert message.parties[1].HasField("civicaddress")


def test_integral_numbers_come_back_as_ints() -> None:
    out = vcon_to_json_value(
        vcon_from_json_value({"dialog": [{"duration": 30.0}], "x": [2.0, 2.5, 1e300]})
    )
    assert out == {"dialog": [{"duration": 30}], "x": [2, 2.5, 1e300]}
    assert type(out["x"][0]) is int and type(out["x"][2]) is float  # type: ignore[index]


# ---------------------------------------------------------------------------
# What has no lossless counterpart is refused, not rounded


@pytest.mark.parametrize(
    "doc",
    [
        {"x": 2**53},
        {"x": [-(2**53)]},
        {"dialog": [{"duration": 2**60}]},
        {"dialog": [{"body": {"n": 10**20}}]},
        {"x": (1, 2)},
        {"x": b"bytes"},
        {"subject": "\ud800"},
        {"\udc00": 1},
    ],
)
def test_unrepresentable_json_is_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(TypedConversionError):
        vcon_from_json_value(doc)


def test_non_object_is_refused() -> None:
    with pytest.raises(TypedConversionError):
        vcon_from_json_value([])  # type: ignore[arg-type]


def test_hand_built_messages_without_a_json_form_are_refused() -> None:
    broken = [
        vcon_pb2.Vcon(dialog=[vcon_pb2.Dialog(parties=vcon_pb2.DialogParties())]),
        vcon_pb2.Vcon(dialog=[vcon_pb2.Dialog(body=struct_pb2.Value())]),
        vcon_pb2.Vcon(analysis=[vcon_pb2.Analysis(dialog=vcon_pb2.IndexOrList())]),
        vcon_pb2.Vcon(group=[vcon_pb2.Group(content_hash=vcon_pb2.ContentHash())]),
    ]
    channel = vcon_pb2.Dialog()
    channel.parties.channels.channels.add()
    broken.append(vcon_pb2.Vcon(dialog=[channel]))
    clash = vcon_pb2.Vcon(subject="a")
    clash.extra_members.fields["subject"].string_value = "b"
    broken.append(clash)
    for message in broken:
        with pytest.raises(TypedConversionError):
            vcon_to_json_value(message)
    with pytest.raises(TypedConversionError):
        vcon_to_json_value(vcon_pb2.Dialog(type="text"))  # type: ignore[arg-type]


def test_parties_only_copies_nothing_else() -> None:
    message = vcon_from_json_value(load("22"))
    only = parties_only(message)
    assert [f.name for f, _ in only.ListFields()] == ["parties"]
    assert list(only.parties) == list(message.parties)
    only.parties[0].name = "changed"
    assert message.parties[0].name != "changed"
