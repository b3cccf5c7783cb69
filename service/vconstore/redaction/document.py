"""Redacting a whole vCon, keeping its structure: every array keeps its
length and order (nothing is removed from one), so each party, dialog and
analysis index in the document still points at the same thing; party
identifiers become the party's pseudonym (`party-N`, N its index, the same
everywhere in the document); every text is scanned (detectors.py), JSON and
base64url bodies decoded first and encoded again after; recordings and
other media lose their content unless the policy keeps them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .detectors import PARTY, Span, find_pii
from .lexicon import PartyLexicon
from .policies import RedactionPolicy

__all__ = ["pseudonym", "redact_document", "redact_text"]

# Members of dialogs, attachments, analyses and references that carry no
# free text: copied as they are. Everything else is scanned.
# Members whose values must stay exactly as they are (indexes, timestamps,
# enumerations, hashes, references): copied. Every other string is scanned,
# free-text-looking or not (a scan of "summary" changes nothing).
_STRUCTURAL: Final = frozenset(
    {
        "type",
        "start",
        "duration",
        "parties",
        "originator",
        "mediatype",
        "mimetype",
        "encoding",
        "disposition",
        "party",
        "dialog",
        "transferee",
        "transferor",
        "transfer_target",
        "original",
        "consultation",
        "target_dialog",
        "recordings",
        "recording_set",
        "uuid",
        "content_hash",
        "alg",
        "signature",
        "url",
    }
)
# At the top level: only the draft's own structural members (an extension's
# `type` or `purpose` is scanned like any text).
_TOP_LEVEL_KEPT: Final = frozenset(
    {"vcon", "uuid", "created_at", "updated_at", "critical", "must_support", "extensions"}
)
_FILE_MEMBERS: Final = ("body", "url", "content_hash", "alg", "signature", "encoding")
# multipart and message bodies (MIME emails) hold encoded parts and
# attachments that are not scanned as such: they go like media.
_MEDIA_PREFIXES: Final = ("audio/", "video/", "image/", "multipart/", "message/")
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml")


def pseudonym(index: int) -> str:
    return f"party-{index}"


def _replacement(span: Span) -> str:
    if span.kind == PARTY and span.party is not None:
        return f"[{pseudonym(span.party)}]"
    return f"[{span.kind}]"


def redact_text(text: str, spans: list[Span]) -> str:
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for span in spans:
        pieces.append(text[last : span.start])
        pieces.append(_replacement(span))
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces)


@dataclass
class _Redactor:
    policy: RedactionPolicy
    lexicon: PartyLexicon

    def text(self, value: str) -> str:
        return redact_text(
            value,
            find_pii(
                value,
                kinds=self.policy.text_kinds,
                lexicon=self.lexicon,
                regions=self.policy.regions,
            ),
        )

    def value(self, value: Any) -> Any:
        """Any JSON value, strings scanned one by one (keys kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def party(self, party: Any, index: int) -> Any:
        if not isinstance(party, dict):
            return party  # a null placeholder stays one
        out: dict[str, Any] = {}
        for key, item in party.items():
            if key == "name" and "name" in self.policy.party_members:
                out[key] = pseudonym(index)
            elif key in self.policy.party_members:
                continue
            elif key in _STRUCTURAL:
                out[key] = item
            else:
                out[key] = self.value(item)
        return out

    def holder(self, item: Any, *, is_media: Callable[[dict[str, Any]], bool]) -> Any:
        """A dialog, attachment, analysis or reference: its file, and the
        rest, members in their order."""
        if not isinstance(item, dict):
            return item
        if is_media(item) and self.policy.keep_media:
            kept = {key: item[key] for key in _FILE_MEMBERS if key in item}
        elif is_media(item) or "body" not in item:
            kept = {}
        else:
            encoding, body = self.body(item.get("encoding"), item["body"])
            kept = {} if body is None else {"body": body, "encoding": encoding}
        # Otherwise external content (url) cannot be scanned, and a redacted
        # body no longer matches the original's hash: those go.
        out: dict[str, Any] = {}
        for key, value in item.items():
            if key in _FILE_MEMBERS:
                if key in kept and kept[key] is not None:
                    out[key] = kept[key]
            elif key == "filename":
                if not self.policy.remove_filenames and isinstance(value, str):
                    out[key] = self.text(value)
            elif key in _STRUCTURAL:
                out[key] = value
            else:
                out[key] = self.value(value)
        return out

    def body(self, encoding: Any, body: Any) -> tuple[Any, Any]:
        """The (encoding, body) after scanning; body None: dropped (binary,
        or nested too deep to walk)."""
        try:
            return self._body(encoding, body)
        except RecursionError:
            return None, None

    def _body(self, encoding: Any, body: Any) -> tuple[Any, Any]:
        if encoding == "json":
            if isinstance(body, str):
                try:
                    parsed = json.loads(body)
                except ValueError:
                    return encoding, self.text(body)
                return encoding, _dumps(self.value(parsed))
            return encoding, self.value(body)
        if encoding in ("base64url", "base64") and isinstance(body, str):
            raw = _decode(body)
            if raw is None:
                return None, None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None, None  # binary content: media, dropped
            try:
                parsed = json.loads(text)
            except ValueError:
                redacted = self.text(text)
            else:
                redacted = _dumps(self.value(parsed))
            return encoding, _encode(redacted.encode("utf-8"), padded=encoding == "base64")
        if isinstance(body, str) and body.lstrip()[:1] in ("{", "["):
            # JSON held as text (encoding none): its escapes (\u00fc) and
            # structure would hide what a scan of the raw text looks for.
            try:
                parsed = json.loads(body)
            except ValueError:
                pass
            else:
                return encoding, _dumps(self.value(parsed))
        return encoding, self.value(body)


def _dumps(value: Any) -> str:
    """Inner JSON as ASCII: a lone surrogate escaped in the original stays
    escaped (raw, it would make the stored vCon invalid I-JSON)."""
    return json.dumps(value, ensure_ascii=True)


def _decode(body: str) -> bytes | None:
    text = body.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _encode(raw: bytes, *, padded: bool) -> str:
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    return text if padded else text.rstrip("=")


def _media_type(item: dict[str, Any]) -> str:
    value = item.get("mediatype", item.get("mimetype", ""))
    return value.lower() if isinstance(value, str) else ""


def _dialog_is_media(item: dict[str, Any]) -> bool:
    return item.get("type") in ("recording", "recording-set") or _media_type(item).startswith(
        _MEDIA_PREFIXES
    )


def _inline_vcon(item: dict[str, Any]) -> bool:
    """A reference's inline body is a whole other vCon, with parties of its
    own: not scanned with this one's, dropped (its uuid stays)."""
    return True


def _file_is_media(item: dict[str, Any]) -> bool:
    kind = _media_type(item)
    return bool(kind) and not kind.startswith(_TEXT_TYPES)


def redact_document(
    document: dict[str, Any], policy: RedactionPolicy, *, new_uuid: str, parent_uuid: str
) -> dict[str, Any]:
    """The redacted copy of `document` (not changed), as a new vCon whose
    `redacted` names the parent and the policy."""
    parties = document.get("parties")
    redactor = _Redactor(policy, PartyLexicon.of(parties if isinstance(parties, list) else []))
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key == "uuid":
            out[key] = new_uuid
        elif key in ("redacted", "redacted_from", "signatures", "payload"):
            continue
        elif key == "parties" and isinstance(value, list):
            out[key] = [redactor.party(party, i) for i, party in enumerate(value)]
        elif key == "dialog" and isinstance(value, list):
            out[key] = [redactor.holder(d, is_media=_dialog_is_media) for d in value]
        elif key in ("attachments", "analysis") and isinstance(value, list):
            out[key] = [redactor.holder(a, is_media=_file_is_media) for a in value]
        elif key in ("amended", "amended_from", "appended"):
            out[key] = redactor.holder(value, is_media=_inline_vcon)
        elif key == "group" and isinstance(value, list):
            out[key] = [redactor.holder(g, is_media=_inline_vcon) for g in value]
        elif key in _TOP_LEVEL_KEPT:
            out[key] = value
        else:
            out[key] = redactor.value(value)
    out["redacted"] = {"uuid": parent_uuid, "type": policy.name}
    return out
