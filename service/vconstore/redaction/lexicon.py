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
_NAME_SPLIT: Final = re.compile(r"[\s,]+")
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
    folded = name.casefold()
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    return {folded, plain, folded.translate(_GERMAN), plain.replace("ß", "ss")}


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
    names_pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, parties: Sequence[Any]) -> PartyLexicon:
        names: dict[str, int] = {}
        numbers: dict[str, int] = {}
        addresses: dict[str, int] = {}
        regions: list[str] = []
        for index, party in enumerate(parties):
            if not isinstance(party, dict):
                continue
            name = party.get("name")
            if isinstance(name, str) and name.strip():
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
        pattern = None
        if names:
            # Longest first, so a full name wins over its parts.
            alternatives = sorted(names, key=len, reverse=True)
            pattern = re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(n) for n in alternatives) + r")(?!\w)",
                re.IGNORECASE,
            )
        return cls(names, numbers, addresses, tuple(regions), pattern)

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
