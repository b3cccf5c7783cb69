"""Which draft version a vCon was written for, and what follows from it.

The version is reported, never written: a document is stored exactly as sent.

Draft history (the `vcon` value each draft prescribes):

    container-00/01  0.0.1   mimetype, alg+signature, appended, transfer-target,
                             target-dialog, party role/contact_list, dialog
                             campaign/interaction_type/interaction_id/skill
    container-02/03  0.0.2   mimetype -> mediatype, alg+signature -> content_hash
    core-00          0.3.0   transfer_target, target_dialog; adds extensions,
                             must_support, party sip/did, session_id (a string);
                             drops role, contact_list, campaign, ...
    core-01..04      0.4.0   appended -> amended, must_support -> critical,
                             session_id an object; `vcon` deprecated (optional);
                             core-02 attachment type -> purpose; core-03 party
                             type/org/dept, recording-set dialogs
                             (recordings/recording_set), analysis.attachment

`detect_version(doc)` is the `vcon` member when it is a string (even an
unknown one: the caller warns about those). Without it, the version is
inferred from the member names, each of which bounds the version its producer
followed:

* a name introduced by a draft gives a lower bound (`critical`, `amended`,
  attachment `purpose`, an object `session_id`, a `recording-set` dialog or
  `recordings`/`recording_set`, party `type`/`org`/`dept`,
  analysis `attachment` -> 0.4.0; `must_support`, `extensions`, party
  `sip`/`did`, `transfer_target`/`target_dialog`, a string `session_id` ->
  0.3.0; `mediatype`, `content_hash` -> 0.0.2);
* a name a later draft renamed or dropped gives an upper bound (`mimetype`,
  `alg`/`signature` -> 0.0.1; `transfer-target`/`target-dialog`, party
  `role`/`contact_list`, dialog `campaign`/`interaction_type`/
  `interaction_id`/`skill` -> 0.0.2; `must_support`, `appended`, a string
  `session_id` -> 0.3.0).

Omitting `vcon` is itself only legal from core-01 (0.4.0) on, so the answer
is the newest version the upper bounds allow: 0.4.0 without old names, older
when old names pin the document down (`appended` alone -> 0.3.0, `mimetype`
-> 0.0.1). Names that only give lower bounds (`extensions`, `sip`,
`mediatype`) therefore do not change the answer: they are all still valid in
0.4.0. When the bounds conflict (a producer that adopted some new names but
kept old ones, e.g. vcon-lib writing `extensions` next to `mimetype`), the
new names win: an old name in a newer document is a lag in renaming, whereas
a new name cannot occur before its draft. So the answer is the lower bound.
"""

from __future__ import annotations

import re
from typing import Any, Final

KNOWN_VERSIONS: Final = ("0.0.1", "0.0.2", "0.3.0", "0.4.0")

_V001: Final = (0, 0, 1)
_V002: Final = (0, 0, 2)
_V030: Final = (0, 3, 0)
_V040: Final = (0, 4, 0)
_NAMES: Final = {_V001: "0.0.1", _V002: "0.0.2", _V030: "0.3.0", _V040: "0.4.0"}

# Member name -> (lowest, highest) version it can occur in, per object kind.
_Bounds = tuple[tuple[int, int, int], tuple[int, int, int]]
_TOP_MARKERS: Final[dict[str, _Bounds]] = {
    "critical": (_V040, _V040),
    "amended": (_V040, _V040),
    "must_support": (_V030, _V030),
    "extensions": (_V030, _V040),
    "appended": (_V001, _V030),
}
_PARTY_MARKERS: Final[dict[str, _Bounds]] = {
    "type": (_V040, _V040),
    "org": (_V040, _V040),
    "dept": (_V040, _V040),
    "sip": (_V030, _V040),
    "did": (_V030, _V040),
    "role": (_V001, _V002),
    "contact_list": (_V001, _V002),
}
_FILE_MARKERS: Final[dict[str, _Bounds]] = {
    "mediatype": (_V002, _V040),
    "content_hash": (_V002, _V040),
    "mimetype": (_V001, _V001),
    "alg": (_V001, _V001),
    "signature": (_V001, _V001),
}
_DIALOG_MARKERS: Final[dict[str, _Bounds]] = {
    **_FILE_MARKERS,
    "recordings": (_V040, _V040),
    "recording_set": (_V040, _V040),
    "transfer_target": (_V030, _V040),
    "target_dialog": (_V030, _V040),
    "transfer-target": (_V001, _V002),
    "target-dialog": (_V001, _V002),
    "campaign": (_V001, _V002),
    "interaction_type": (_V001, _V002),
    "interaction_id": (_V001, _V002),
    "skill": (_V001, _V002),
}
_ATTACHMENT_MARKERS: Final[dict[str, _Bounds]] = {**_FILE_MARKERS, "purpose": (_V040, _V040)}
_ANALYSIS_MARKERS: Final[dict[str, _Bounds]] = {**_FILE_MARKERS, "attachment": (_V040, _V040)}

_DOTTED: Final = re.compile(r"\d+(?:\.\d+)*\Z")


def detect_version(doc: dict[str, Any]) -> str:
    """The version a vCon was written for (see the module docstring for the rule)."""
    written = doc.get("vcon")
    if isinstance(written, str):
        return written
    low, high = _V001, _V040
    for lo, hi in _markers(doc):
        low = max(low, lo)
        high = min(high, hi)
    return _NAMES[high if low <= high else low]


def requires_vendor(version: str | None) -> bool:
    """Whether analysis objects must name their `vendor`: from 0.3.0 on, or with no version.

    `version` is the `vcon` member as written (None when absent). Dotted
    numbers compare numerically ("0.10" > "0.3.0"); a string that is not
    dotted numbers is taken to be a later version.
    """
    if version is None:
        return True
    if not _DOTTED.match(version):
        return True
    parts = [int(p) for p in version.split(".")]
    parts += [0] * (len(_V030) - len(parts))  # "0.3" is 0.3.0, which (0, 3) < (0, 3, 0) denies
    return tuple(parts) >= _V030


def _markers(doc: dict[str, Any]) -> list[_Bounds]:
    found: list[_Bounds] = [b for name, b in _TOP_MARKERS.items() if doc.get(name) is not None]
    found += _element_markers(doc.get("parties"), _PARTY_MARKERS)
    found += _element_markers(doc.get("attachments"), _ATTACHMENT_MARKERS)
    found += _element_markers(doc.get("analysis"), _ANALYSIS_MARKERS)
    redacted, amended = doc.get("redacted"), doc.get("amended") or doc.get("appended")
    found += _element_markers([redacted, amended], _FILE_MARKERS)
    dialogs = doc.get("dialog")
    found += _element_markers(dialogs, _DIALOG_MARKERS)
    if isinstance(dialogs, list):
        for dialog in dialogs:
            if not isinstance(dialog, dict):
                continue
            if dialog.get("type") == "recording-set":
                found.append((_V040, _V040))
            session_id = dialog.get("session_id")
            if isinstance(session_id, str):
                found.append((_V030, _V030))
            elif isinstance(session_id, (dict, list)):
                found.append((_V040, _V040))
    return found


def _element_markers(elements: object, markers: dict[str, _Bounds]) -> list[_Bounds]:
    if not isinstance(elements, list):
        return []
    found: list[_Bounds] = []
    for element in elements:
        if isinstance(element, dict):
            found += [b for name, b in markers.items() if element.get(name) is not None]
    return found
