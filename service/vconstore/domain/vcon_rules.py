"""The member-level rules of the validation policy, for one unsigned vCon object.

Every member of every draft (0.0.1 through 0.4.0) is known here under each of
its names, with its JSON type; both names of a renamed member are accepted in
every version, without warnings. Members that are not known are not looked at
(extensions and vendor data are stored as sent). A known optional member that
is null counts as absent (conserver writes `"subject": null`).

`check_vcon` returns (violations, warnings) in document order; the caller
decides what is refused (strict mode turns warnings into violations).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from vconstore.domain.errors import Violation
from vconstore.domain.timestamps import TimestampOutOfRange, parse_timestamp_with_offset
from vconstore.domain.versions import KNOWN_VERSIONS, requires_vendor

_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
DIALOG_TYPES: Final = ("recording", "text", "transfer", "incomplete", "recording-set")
ENCODINGS: Final = ("none", "base64url", "json", "base64")
_LEGACY_ENCODING: Final = "base64"
_PLURAL: Final = {"party": "parties", "dialog": "dialogs", "attachment": "attachments"}


class _Checker:
    """Accumulates violations and warnings while walking one document."""

    __slots__ = ("counts", "supported_extensions", "vendor_required", "violations", "warnings")

    def __init__(self, doc: dict[str, Any], supported_extensions: frozenset[str]) -> None:
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.supported_extensions = supported_extensions
        version = doc.get("vcon")
        self.vendor_required = requires_vendor(version if isinstance(version, str) else None)
        # How many elements indexes may point at; None when the array is
        # malformed (that is reported once, not again at every reference).
        self.counts: dict[str, int | None] = {
            "party": _count(doc.get("parties")),
            "dialog": _count(doc.get("dialog")),
            "attachment": _count(doc.get("attachments")),
        }

    def violate(self, path: str, message: str) -> None:
        self.violations.append(Violation(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Violation(path, message))


_Check = Callable[[_Checker, Any, str], None]


def check_vcon(
    doc: dict[str, Any], *, supported_extensions: frozenset[str], uuid_may_be_missing: bool
) -> tuple[list[Violation], list[Violation]]:
    """(violations, warnings) of an unsigned vCon object under the policy."""
    checker = _Checker(doc, supported_extensions)
    uuid = doc.get("uuid", _ABSENT)
    if uuid is _ABSENT:
        if not uuid_may_be_missing:
            checker.violate("uuid", "missing (a vCon needs a uuid; assign_uuid adds one)")
    elif uuid is None:
        checker.violate("uuid", "null (a vCon needs a uuid)")
    parties = doc.get("parties")
    if parties is None:
        checker.violate("parties", "missing (at least one party is required)")
    elif isinstance(parties, list) and not parties:
        checker.violate("parties", "empty (at least one party is required)")
    _members(checker, doc, "", _TOP)
    if doc.get("created_at") is None:
        checker.warn(
            "created_at",
            "missing: ordered by the time received (the document is not changed)",
        )
    return checker.violations, checker.warnings


_ABSENT: Final = object()


def _count(value: object) -> int | None:
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else None


def _member_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _members(checker: _Checker, obj: dict[str, Any], path: str, table: dict[str, _Check]) -> None:
    for name, value in obj.items():
        if value is None:
            continue
        check = table.get(name)
        if check is not None:
            check(checker, value, f"{path}.{name}" if path else name)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _wrong_type(checker: _Checker, value: object, path: str, expected: str) -> None:
    name = path.rsplit(".", 1)[-1]
    checker.violate(path, f"{name} must be {expected}, not {_json_type(value)}")


# --- scalars -------------------------------------------------------------------


def _string(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")


def _timestamp(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string (an RFC 3339 timestamp)")
        return
    try:
        _, has_offset = parse_timestamp_with_offset(value)
    except TimestampOutOfRange:
        checker.violate(path, f"{value!r} falls outside the years 0001-9999 once converted to UTC")
        return
    except ValueError:
        checker.violate(path, f"{value!r} is not an ISO 8601 / RFC 3339 timestamp")
        return
    if not has_offset:
        checker.warn(path, "no UTC offset; indexed as UTC")


def _duration(checker: _Checker, value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _wrong_type(checker, value, path, "a number (seconds)")
    elif value < 0:
        checker.violate(path, f"duration {value} is negative")


def _index(checker: _Checker, value: Any, path: str, kind: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _wrong_type(checker, value, path, f"a {kind} index (an integer)")
        return
    if isinstance(value, float):
        if not value.is_integer():
            checker.violate(path, f"{kind} index {value!r} is not an integer")
            return
        value = int(value)
    count = checker.counts[kind]
    if count is not None and not 0 <= value < count:
        noun = kind if count == 1 else _PLURAL[kind]
        checker.violate(path, f"{kind} index {value} out of range ({count} {noun})")


def _party_index(checker: _Checker, value: Any, path: str) -> None:
    _index(checker, value, path, "party")


def _dialog_index(checker: _Checker, value: Any, path: str) -> None:
    _index(checker, value, path, "dialog")


def _index_or_list(kind: str) -> _Check:
    def check(checker: _Checker, value: Any, path: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _index(checker, item, f"{path}[{i}]", kind)
        else:
            _index(checker, value, path, kind)

    return check


def _dialog_parties(checker: _Checker, value: Any, path: str) -> None:
    """int | (int | int[] | null)[], nested to any depth (one entry per channel)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if item is not None:
                _dialog_parties(checker, item, f"{path}[{i}]")
    else:
        _index(checker, value, path, "party")


def _version(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")
    elif value not in KNOWN_VERSIONS:
        checker.warn(
            path,
            f'unknown vCon version "{value}" (known: {", ".join(KNOWN_VERSIONS)});'
            " stored as written",
        )


def _vcon_uuid(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")
    elif not _UUID.match(value):
        checker.violate(path, f"uuid {value!r} is not of the form 8-4-4-4-12 hexadecimal digits")


def _encoding(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")
    elif value not in ENCODINGS:
        checker.violate(
            path, f'encoding "{value}" is not one of none, base64url, json (or the legacy base64)'
        )
    elif value == _LEGACY_ENCODING:
        checker.warn(
            path, 'legacy encoding "base64" (written by vcon-lib); the draft says base64url'
        )


def _url(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")
    elif value[:8].lower() != "https://":
        checker.warn(path, "url is not https")


def _dialog_type(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _wrong_type(checker, value, path, "a string")
    elif value not in DIALOG_TYPES:
        checker.violate(path, f'dialog type "{value}" is not one of {", ".join(DIALOG_TYPES)}')


def _content_hash(checker: _Checker, value: Any, path: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                _wrong_type(checker, item, f"{path}[{i}]", "a string")
    elif not isinstance(value, str):
        _wrong_type(checker, value, path, "a string or an array of strings")


def _any(checker: _Checker, value: Any, path: str) -> None:
    """`body`: any JSON value; its relation to `encoding` is an object-level warning."""


def _strings(checker: _Checker, value: Any, path: str) -> None:
    if not isinstance(value, list):
        _wrong_type(checker, value, path, "an array of strings")
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _wrong_type(checker, item, f"{path}[{i}]", "a string")


def _required_extensions(note: str) -> _Check:
    def check(checker: _Checker, value: Any, path: str) -> None:
        _strings(checker, value, path)
        if not isinstance(value, list):
            return
        for i, name in enumerate(value):
            if isinstance(name, str) and name not in checker.supported_extensions:
                checker.violate(
                    f"{path}[{i}]", f'extension "{name}" is not supported by this server{note}'
                )

    return check


def _object_or_array(checker: _Checker, value: Any, path: str) -> None:
    # jCard: RFC 7095 makes it an array; vcon-lib writes an object.
    if not isinstance(value, (dict, list)):
        _wrong_type(checker, value, path, "an object or an array")


# --- objects -------------------------------------------------------------------


def _object(table: dict[str, _Check], *rules: _Check) -> _Check:
    """A check for an object with the members in `table`, then object-level `rules`."""

    def check(checker: _Checker, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            _wrong_type(checker, value, path, "an object")
            return
        _members(checker, value, path, table)
        for rule in rules:
            rule(checker, value, path)

    return check


def _array_of(element: _Check) -> _Check:
    def check(checker: _Checker, value: Any, path: str) -> None:
        if not isinstance(value, list):
            _wrong_type(checker, value, path, "an array")
            return
        for i, item in enumerate(value):
            element(checker, item, f"{path}[{i}]")

    return check


def _inline_body(checker: _Checker, obj: dict[str, Any], path: str) -> None:
    """The warnings about `body` that depend on `encoding`."""
    body = obj.get("body")
    if body is None:
        return
    encoding = obj.get("encoding")
    if encoding is None:
        # The draft requires encoding only for a non-empty body.
        if body != "":
            checker.warn(_member_path(path, "body"), "inline body without encoding")
    elif encoding in ENCODINGS and encoding != "json" and not isinstance(body, str):
        checker.warn(
            _member_path(path, "body"),
            f'body is {_json_type(body)} but encoding is "{encoding}" (only json allows a'
            " non-string body)",
        )


def _dialog_rules(checker: _Checker, obj: dict[str, Any], path: str) -> None:
    # An empty object is the placeholder core-03 leaves for a removed dialog.
    if obj and obj.get("type") is None:
        checker.violate(
            _member_path(path, "type"), f"dialog type missing (one of {', '.join(DIALOG_TYPES)})"
        )
    _inline_body(checker, obj, path)


def _analysis_rules(checker: _Checker, obj: dict[str, Any], path: str) -> None:
    if checker.vendor_required and obj.get("vendor") is None:
        checker.violate(
            _member_path(path, "vendor"),
            "vendor missing (analysis.vendor is required from vCon 0.3.0 on and when vcon is"
            " absent)",
        )
    _inline_body(checker, obj, path)


def _session_object(checker: _Checker, value: dict[str, Any], path: str) -> None:
    _members(checker, value, path, {"local": _string, "remote": _string})


def _session_id(checker: _Checker, value: Any, path: str) -> None:
    """A string (core-00), a {local, remote} object (core-01+), or arrays of them per channel."""
    expected = "a string, an object {local, remote} or an array of them"
    if isinstance(value, str):
        return
    if isinstance(value, dict):
        _session_object(checker, value, path)
        return
    if not isinstance(value, list):
        _wrong_type(checker, value, path, expected)
        return
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if isinstance(item, list):
            for j, inner in enumerate(item):
                _session_entry(checker, inner, f"{item_path}[{j}]", expected)
        else:
            _session_entry(checker, item, item_path, expected)


def _session_entry(checker: _Checker, value: Any, path: str, expected: str) -> None:
    if isinstance(value, dict):
        _session_object(checker, value, path)
    elif value is not None and not isinstance(value, str):
        _wrong_type(checker, value, path, expected)


# Members carrying a file inline (body + encoding) or by reference
# (url + content_hash; alg + signature before container-02), in every draft.
_FILE: Final[dict[str, _Check]] = {
    "body": _any,
    "encoding": _encoding,
    "url": _url,
    "content_hash": _content_hash,
    "alg": _string,
    "signature": _string,
    "mimetype": _string,
    "mediatype": _string,
    "filename": _string,
}

_CIVICADDRESS: Final[dict[str, _Check]] = {
    name: _string
    for name in [
        "country",
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
        "a6",
        "prd",
        "pod",
        "sts",
        "hno",
        "hns",
        "lmk",
        "loc",
        "flr",
        "nam",
        "pc",
    ]
}

_PARTY: Final[dict[str, _Check]] = {
    **{
        name: _string
        for name in [
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
        ]
    },
    "civicaddress": _object(_CIVICADDRESS),
    "jCard": _object_or_array,
}

_PARTY_HISTORY: Final[dict[str, _Check]] = {
    "party": _party_index,
    "time": _timestamp,
    "event": _string,
    "button": _string,
}

_DIALOG: Final[dict[str, _Check]] = {
    **_FILE,
    "type": _dialog_type,
    "start": _timestamp,
    "duration": _duration,
    "parties": _dialog_parties,
    "originator": _party_index,
    "disposition": _string,
    "party_history": _array_of(_object(_PARTY_HISTORY)),
    "transferee": _party_index,
    "transferor": _party_index,
    "transfer_target": _party_index,
    "transfer-target": _party_index,
    "original": _dialog_index,
    "consultation": _dialog_index,
    "target_dialog": _dialog_index,
    "target-dialog": _dialog_index,
    "recordings": _array_of(_dialog_index),
    "recording_set": _dialog_index,
    "session_id": _session_id,
    "campaign": _string,
    "interaction_type": _string,
    "interaction_id": _string,
    "skill": _string,
    "application": _string,
    "message_id": _string,
}

_ATTACHMENT: Final[dict[str, _Check]] = {
    **_FILE,
    "type": _string,
    "purpose": _string,
    "start": _timestamp,
    "party": _party_index,
    "dialog": _dialog_index,
}

_ANALYSIS: Final[dict[str, _Check]] = {
    **_FILE,
    "type": _string,
    "dialog": _index_or_list("dialog"),
    "attachment": _index_or_list("attachment"),
    "vendor": _string,
    "product": _string,
    "schema": _string,
}

# redacted / amended (appended before core-01) / group: a reference to another
# vCon by uuid, inline (body + encoding, before core-00) or by url.
_REFERENCE: Final[dict[str, _Check]] = {**_FILE, "uuid": _string, "type": _string}

_TOP: Final[dict[str, _Check]] = {
    "vcon": _version,
    "uuid": _vcon_uuid,
    "created_at": _timestamp,
    "updated_at": _timestamp,
    "subject": _string,
    "redacted": _object(_REFERENCE, _inline_body),
    "amended": _object(_REFERENCE, _inline_body),
    "appended": _object(_REFERENCE, _inline_body),
    "group": _array_of(_object(_REFERENCE, _inline_body)),
    "parties": _array_of(_object(_PARTY)),
    "dialog": _array_of(_object(_DIALOG, _dialog_rules)),
    "analysis": _array_of(_object(_ANALYSIS, _analysis_rules)),
    "attachments": _array_of(_object(_ATTACHMENT, _inline_body)),
    "extensions": _strings,
    "critical": _required_extensions(""),
    "must_support": _required_extensions(" (must_support is the core-00 name of critical)"),
}
