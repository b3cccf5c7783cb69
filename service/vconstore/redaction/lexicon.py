"""What identifies the vCon's own parties, to find them in its text in any
form: names and name parts, numbers in any notation, addresses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import phonenumbers

__all__ = ["PartyLexicon", "digits_of", "national_digits"]

# Name parts shorter than this are too common to match on their own ("Al", "Jo").
MIN_NAME_PART: Final = 3
_NAME_SPLIT: Final = re.compile(r"[\s,\-]+")
_WORD: Final = re.compile(r"\w+")
# Particles of names that are words of their own in every text.
_PARTICLES: Final = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "du",
        "des",
        "la",
        "le",
        "ten",
        "ter",
        "bin",
        "ibn",
        "al",
        "el",
        "dos",
        "das",
        "y",
    ]
)
# How people type a name without its letters' accents: Jürgen as juergen or
# jurgen, Lucía as lucia, Weiß as weiss.
_GERMAN: Final = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def spellings(name: str) -> set[str]:
    """The name, case-folded, and as typed without accents."""
    lower = name.lower()
    folded = name.casefold()
    plain = "".join(c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c))
    # lower() keeps ß (re.IGNORECASE does not match ß to "ss"), casefold()
    # spells it ss; both, and the transliterations, are searched.
    return {lower, folded, plain, lower.translate(_GERMAN), plain.replace("ß", "ss")}


def _unbounded(name: str) -> bool:
    """Scripts written without spaces (CJK, Thai...): a name runs into the
    next word (王小明先生), so it is matched without word boundaries."""
    return any(
        "\u2e80" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af" or "\u0e00" <= char <= "\u0e7f"
        for char in name
    )


def digits_of(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def national_digits(tel: str) -> str | None:
    """The national significant number of a tel (E.164 or tel: URI), or None."""
    value = tel.removeprefix("tel:").split(";", 1)[0].strip()
    if not value:
        return None
    try:
        number = phonenumbers.parse(value if value.startswith("+") else "+" + value, None)
    except phonenumbers.NumberParseException:
        digits = digits_of(value)
        return digits if len(digits) >= 6 else None
    return phonenumbers.national_significant_number(number) or None


@dataclass(frozen=True)
class PartyLexicon:
    """Per party index: its names (full names first), the national digits of
    its numbers, its addresses (mailto, sip, did)."""

    names: Mapping[str, int] = field(default_factory=dict)
    numbers: Mapping[str, int] = field(default_factory=dict)
    addresses: Mapping[str, int] = field(default_factory=dict)
    # Regions of the parties' numbers: where national-format numbers in the
    # text most likely come from.
    regions: tuple[str, ...] = ()
    # Spellings that are one word: found by looking each word of a text up,
    # no pattern to compile per vCon (compiling one was ~0.7 ms a vCon).
    name_words: Mapping[str, int] = field(default_factory=dict)
    # The rest (names with punctuation, short parts, scripts without spaces).
    names_pattern: re.Pattern[str] | None = None
    addresses_pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, parties: Sequence[Any]) -> PartyLexicon:
        names: dict[str, int] = {}
        numbers: dict[str, int] = {}
        addresses: dict[str, int] = {}
        regions: list[str] = []
        for index, party in enumerate(parties):
            if not isinstance(party, dict):
                continue
            for name in (party.get("name"), *_jcard_names(party.get("jCard"))):
                if not isinstance(name, str) or not name.strip():
                    continue
                for spelling in spellings(name.strip()):
                    names.setdefault(spelling, index)
                for part in _NAME_SPLIT.split(name):
                    part = part.strip(".'\"()")
                    if (
                        len(part) >= MIN_NAME_PART
                        and any(c.isalpha() for c in part)
                        and part.casefold() not in _PARTICLES
                    ):
                        for spelling in spellings(part):
                            names.setdefault(spelling, index)
            for member in ("tel", "did"):
                value = party.get(member)
                if isinstance(value, str):
                    digits = national_digits(value)
                    if digits:
                        numbers.setdefault(digits, index)
                    region = _region(value)
                    if region and region not in regions:
                        regions.append(region)
            for member in ("mailto", "sip"):
                value = party.get(member)
                if isinstance(value, str) and value.strip():
                    address = value.strip().removeprefix("mailto:").removeprefix("sip:")
                    addresses.setdefault(address.casefold(), index)
        words = {n: i for n, i in names.items() if _WORD.fullmatch(n) and not _unbounded(n)}
        # A name made of words that are all looked up needs no pattern: its
        # words are found one by one and joined (detectors._party_mentions).
        rest = [
            n
            for n in names
            if (n not in words and not all(w in words for w in _WORD.findall(n))) or _unbounded(n)
        ]
        pattern = None
        if rest:
            # Longest first, so a full name wins over its parts.
            alternatives = sorted(rest, key=len, reverse=True)
            bounded = [re.escape(n) for n in alternatives if not _unbounded(n)]
            free = [re.escape(n) for n in alternatives if _unbounded(n)]
            branches = []
            if bounded:
                branches.append(r"(?<!\w)(?:" + "|".join(bounded) + r")(?!\w)")
            if free:
                branches.append("(?:" + "|".join(free) + ")")
            pattern = re.compile("|".join(branches), re.IGNORECASE)
        addresses_pattern = None
        if addresses:
            addresses_pattern = re.compile(
                "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True)),
                re.IGNORECASE,
            )
        return cls(names, numbers, addresses, tuple(regions), words, pattern, addresses_pattern)

    def party_of_number(self, digits: str) -> int | None:
        """The party whose national number these digits are, written in any
        notation (with a country code, a trunk 0, or neither)."""
        if len(digits) < 6:
            return None
        for national, index in self.numbers.items():
            if digits == national or (
                digits.endswith(national) and len(digits) - len(national) <= 4
            ):
                return index
        return None


def _region(tel: str) -> str | None:
    value = tel.removeprefix("tel:").split(";", 1)[0].strip()
    try:
        number = phonenumbers.parse(value if value.startswith("+") else "+" + value, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def _jcard_names(jcard: object) -> list[str]:
    """The formatted name (`fn`) of a jCard (RFC 7095: ["vcard", [[name, params, type, value]]])."""
    if not isinstance(jcard, list) or len(jcard) < 2 or not isinstance(jcard[1], list):
        return []
    return [
        prop[3]
        for prop in jcard[1]
        if isinstance(prop, list)
        and len(prop) >= 4
        and prop[0] == "fn"
        and isinstance(prop[3], str)
    ]
