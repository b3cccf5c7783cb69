"""Named redaction policies: what each removes. Two are built in; an
operator adds or overrides policies with a JSON file
(VCON_REDACTION_POLICIES_FILE, a list of objects with the fields below)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .detectors import (
    ADDRESS,
    ALL_KINDS,
    CARD,
    EMAIL,
    IBAN,
    IP,
    OBFUSCATED_EMAIL,
    PARTY,
    PHONE,
    SPOKEN_NUMBER,
    SSN,
)

__all__ = ["BUILT_IN", "PARTY_MEMBERS", "RedactionPolicy", "load_policies"]

# Party members that identify a person, all removable; `name` is replaced by
# the party's pseudonym rather than removed.
PARTY_MEMBERS: Final = (
    "tel",
    "mailto",
    "name",
    "sip",
    "did",
    "jCard",
    "civicaddress",
    "gmlpos",
    "uuid",
    "validation",
    "contact_list",
    "stir",
)
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class RedactionPolicy:
    name: str
    description: str
    # What is found and replaced in every text (detectors.ALL_KINDS).
    text_kinds: frozenset[str]
    # Party members removed (name: replaced by the party's pseudonym).
    party_members: frozenset[str]
    # Keep recordings and inline media (bodies, urls, hashes) as they are.
    keep_media: bool = False
    # Regions whose national phone formats are recognised, besides those of
    # the parties' own numbers.
    regions: tuple[str, ...] = ("US", "GB")
    # File names are free text people put names in: scanned, or removed.
    remove_filenames: bool = False


_DEFAULT_KINDS: Final = frozenset({PHONE, EMAIL, CARD, IBAN, SSN, IP, ADDRESS, PARTY})
BUILT_IN: Final[Mapping[str, RedactionPolicy]] = {
    "pii-default": RedactionPolicy(
        name="pii-default",
        description=(
            "Party identifiers (name -> party-N, tel, mailto, sip, did, jCard, civic "
            "address, location, STIR PASSporTs) removed; in every text: phone numbers, "
            "emails, payment cards, IBANs, US SSNs, IP addresses, street addresses and every "
            "mention of a party's own name, number or address replaced; recordings, media "
            "and MIME bodies dropped, and inline copies of other vCons."
        ),
        text_kinds=_DEFAULT_KINDS,
        party_members=frozenset(PARTY_MEMBERS) - {"uuid", "validation"},
    ),
    "pii-strict": RedactionPolicy(
        name="pii-strict",
        description=(
            "Everything pii-default removes, and also: numbers read out as words, "
            "obfuscated emails ('name at example dot com'), party uuids and validation, "
            "file names; national phone formats of DE, FR, ES, NL, IT, IN, AU "
            "and CA recognised too."
        ),
        text_kinds=_DEFAULT_KINDS | {SPOKEN_NUMBER, OBFUSCATED_EMAIL},
        party_members=frozenset(PARTY_MEMBERS),
        regions=("US", "GB", "DE", "FR", "ES", "NL", "IT", "IN", "AU", "CA"),
        remove_filenames=True,
    ),
}


def load_policies(path: Path | None) -> dict[str, RedactionPolicy]:
    """The built-in policies, with those of the file added or replacing them.
    ValueError naming the problem for a file that cannot be used."""
    policies = dict(BUILT_IN)
    if path is None:
        return policies
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"redaction policies file {path}: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError(f"redaction policies file {path}: expected a JSON array of policies")
    for position, entry in enumerate(entries):
        policy = _policy(entry, where=f"{path}[{position}]")
        policies[policy.name] = policy
    return policies


def _policy(entry: Any, *, where: str) -> RedactionPolicy:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: a policy is a JSON object")
    known = {
        "name",
        "description",
        "remove",
        "party_members",
        "keep_media",
        "regions",
        "remove_filenames",
    }
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"{where}: unknown member(s) {sorted(unknown)}; known: {sorted(known)}")
    name = entry.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"{where}: name must be 1-63 lowercase letters, digits or '-'")
    kinds = entry.get("remove", sorted(_DEFAULT_KINDS))
    if not isinstance(kinds, list) or not set(kinds) <= set(ALL_KINDS):
        raise ValueError(f"{where}: remove must list kinds among {list(ALL_KINDS)}")
    members = entry.get("party_members", list(PARTY_MEMBERS))
    if not isinstance(members, list) or not set(members) <= set(PARTY_MEMBERS):
        raise ValueError(f"{where}: party_members must list members among {list(PARTY_MEMBERS)}")
    regions = entry.get("regions", ["US", "GB"])
    if not isinstance(regions, list) or not all(
        isinstance(r, str) and re.fullmatch(r"[A-Z]{2}", r) for r in regions
    ):
        raise ValueError(f"{where}: regions must be ISO 3166 alpha-2 codes such as GB")
    for flag in ("keep_media", "remove_filenames"):
        if not isinstance(entry.get(flag, False), bool):
            raise ValueError(f"{where}: {flag} must be true or false")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{where}: description must be a string")
    return RedactionPolicy(
        name=name,
        description=description,
        text_kinds=frozenset(kinds),
        party_members=frozenset(members),
        keep_media=bool(entry.get("keep_media", False)),
        regions=tuple(regions),
        remove_filenames=bool(entry.get("remove_filenames", False)),
    )
