"""The normalised keys ListVcons filters on, derived once from a vCon document.

The same normalisation applies to stored keys and to filter values, so a
filter matches exactly what the issue promises:
* tel: spaces, dashes and dots removed (and a `tel:` URI scheme, which
  vcon-lib writes), then compared exactly;
* mailto: case-insensitive exact match (a `mailto:` scheme is ignored, core-03
  allows both forms);
* name and subject: case-insensitive substring (Unicode case folding);
* tags: `key:value` strings from attachments whose `type` (pre-core-02) or
  `purpose` is `tags`, with a JSON string or a JSON array as body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_TEL_SEPARATORS = re.compile(r"[\s.\-]+")
TAGS_PURPOSE = "tags"


def normalise_tel(tel: str) -> str:
    tel = tel.strip()
    if tel[:4].lower() == "tel:":
        tel = tel[4:]
    return _TEL_SEPARATORS.sub("", tel)


def normalise_mailto(mailto: str) -> str:
    mailto = mailto.strip()
    if mailto[:7].lower() == "mailto:":
        mailto = mailto[7:]
    return mailto.casefold()


def fold(text: str) -> str:
    """The case-insensitive form for substring search. casefold() rather than
    lower() so that e.g. "STRASSE" finds "Straße"."""
    return text.casefold()


def tag_key(tag: str) -> str:
    """`key:value` -> `key`; a tag without a colon is its own key."""
    return tag.partition(":")[0]


@dataclass(frozen=True, slots=True)
class SearchKeys:
    subject: str | None
    party_tels: tuple[str, ...]
    party_mailtos: tuple[str, ...]
    party_names: tuple[str, ...]
    tags: tuple[str, ...]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _tags_in_body(body: object) -> Iterable[str]:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return ()  # not JSON: a tags body that carries no tags
    if isinstance(body, list):
        return (item for item in body if isinstance(item, str))
    if isinstance(body, Mapping):
        # Some writers use {"key": "value"} instead of ["key:value"].
        return (f"{k}:{v}" for k, v in body.items() if isinstance(v, str | int | float))
    return ()


def extract_search_keys(document: Mapping[str, object]) -> SearchKeys:
    """Derive the list-filter keys of an (already validated) unsigned vCon."""
    subject = document.get("subject")
    parties = document.get("parties")
    tels: list[str] = []
    mailtos: list[str] = []
    names: list[str] = []
    if isinstance(parties, list):
        for party in parties:
            if not isinstance(party, Mapping):
                continue
            if isinstance(tel := party.get("tel"), str):
                tels.append(normalise_tel(tel))
            if isinstance(mailto := party.get("mailto"), str):
                mailtos.append(normalise_mailto(mailto))
            if isinstance(name := party.get("name"), str):
                names.append(fold(name))
    tags: list[str] = []
    attachments = document.get("attachments")
    if isinstance(attachments, list):
        for attachment in attachments:
            if not isinstance(attachment, Mapping):
                continue
            if TAGS_PURPOSE in (attachment.get("purpose"), attachment.get("type")):
                tags.extend(_tags_in_body(attachment.get("body")))
    return SearchKeys(
        subject=subject if isinstance(subject, str) else None,
        party_tels=_unique(tels),
        party_mailtos=_unique(mailtos),
        party_names=_unique(names),
        tags=_unique(tags),
    )
