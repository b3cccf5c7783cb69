"""Finding PII in text, by patterns with checks (no model): phone numbers
(libphonenumber), emails, payment cards (Luhn), IBANs (mod 97), US SSNs, IP
addresses, street addresses (heuristics for US, UK, DE, FR, ES, NL forms),
and every mention of the vCon's own parties (lexicon.py).

Each detector returns spans; `find_pii` merges them, a party's own
identifier winning over the generic kind it also is, so the replacement can
name the party's pseudonym.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Final

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from .lexicon import PartyLexicon, digits_of

__all__ = ["ALL_KINDS", "Span", "find_pii"]

PHONE: Final = "phone"
EMAIL: Final = "email"
CARD: Final = "card"
IBAN: Final = "iban"
SSN: Final = "ssn"
IP: Final = "ip"
ADDRESS: Final = "address"
SPOKEN_NUMBER: Final = "spoken_number"
OBFUSCATED_EMAIL: Final = "obfuscated_email"
PARTY: Final = "party"
ALL_KINDS: Final = (
    PHONE,
    EMAIL,
    CARD,
    IBAN,
    SSN,
    IP,
    ADDRESS,
    SPOKEN_NUMBER,
    OBFUSCATED_EMAIL,
    PARTY,
)
# National formats are read as these regions' unless the parties say otherwise.
DEFAULT_REGIONS: Final = ("US", "GB")
NO_PARTIES: Final = PartyLexicon()


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str
    # The party it identifies, for PARTY spans.
    party: int | None = None


_EMAIL: Final = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_OBFUSCATED_EMAIL: Final = re.compile(
    r"(?i)(?<!\w)[\w.+-]+\s*(?:\[at\]|\(at\)|\bat\b)\s*[\w-]+"
    r"(?:\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*[\w-]+)+(?!\w)"
)
_CARD: Final = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN: Final = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SSN: Final = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
_IPV6: Final = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_NUMBER_LIKE: Final = re.compile(r"(?<![\w])\+?\(?\d[\d\s().\-/]{4,}\d(?!\w)")

_US_SUFFIX: Final = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl"
    r"|Way|Parkway|Pkwy|Terrace|Ter|Circle|Cir|Highway|Hwy|Square|Sq|Close|Crescent|Row"
    r"|Gardens|Grove|Mews|Hill|Walk)\.?"
)
_UK_POSTCODE: Final = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_ADDRESSES: Final = (
    # 1600 Amphitheatre Parkway, Mountain View, CA 94043 / 221B Baker Street,
    # London NW1 6XE / Flat 3, 12 Acacia Avenue / 221 W 34th St Apt 5B
    re.compile(
        r"(?:(?:Flat|Apartment|Apt|Unit|Suite)\s+\w+,?\s+)?"
        r"\b\d{1,6}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w'.-]*\s+){0,4}"
        + _US_SUFFIX
        + r"(?:,?\s+(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[\w-]+)?"
        r"(?:,\s*[A-Z][A-Za-z.'-]*(?:\s+[A-Z][A-Za-z.'-]*){0,3})?"
        r"(?:,?\s+(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|" + _UK_POSTCODE + r"))?"
    ),
    # Hauptstraße 5, 10115 Berlin / Keizersgracht 123, 1015 CJ Amsterdam
    re.compile(
        r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm"
        r"|gracht|laan|plein|kade|dijk)\s+\d{1,5}\s?[a-zA-Z]?\b"
        r"(?:,\s*(?:\d{5}|\d{4}\s?[A-Z]{2})\s+[A-ZÄÖÜ][\wäöüß-]+)?"
    ),
    # 12 rue de la Paix, 75002 Paris / Calle Mayor 5, 28013 Madrid
    re.compile(
        r"(?i:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin"
        r"|allée|impasse|quai|route)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*)[\w'-]+(?:\s+[\w'-]+){0,3}?"
        r"(?:,\s*\d{5}\s+[A-Z][\w-]+)?(?=[\s,.;:!?)]|$)"
    ),
    re.compile(
        r"\b(?:Calle|Avenida|Avda\.|Plaza|Paseo|Carrer|Via|Viale|Piazza)\s+(?:(?:de|del|la|di)\s+)*"
        r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,3},?\s+\d{1,4}"
        r"(?:,\s*\d{5}\s+[A-Z][\w-]+)?"
    ),
    re.compile(r"\b" + _UK_POSTCODE + r"\b"),
)
_DIGIT_WORDS: Final = "zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple"
_SPOKEN_NUMBER: Final = re.compile(
    rf"(?i)(?<!\w)(?:(?:{_DIGIT_WORDS})[\s,.-]+){{6,}}(?:{_DIGIT_WORDS})(?!\w)"
)


def _phones(text: str, regions: Collection[str]) -> Iterator[Span]:
    seen: set[tuple[int, int]] = set()
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.POSSIBLE
        ):
            if (match.start, match.end) in seen:
                continue
            seen.add((match.start, match.end))
            if _looks_like_a_date_or_amount(match.raw_string) or _glued(text, match.start):
                continue
            yield Span(match.start, match.end, PHONE)


def _glued(text: str, start: int) -> bool:
    """Digits that continue a code (ORD-2024-88172, INV/2291-3345, A12-..."""
    before = text[max(0, start - 2) : start]
    if not before:
        return False
    if before[-1].isalnum():
        return True
    return before[-1] in "-/#_:" and len(before) == 2 and before[0].isalnum()


def _looks_like_a_date_or_amount(raw: str) -> bool:
    digits = digits_of(raw)
    if len(digits) < 7 or _IPV4.fullmatch(raw.strip()):
        return True
    # 2026-03-14, 14/03/2026, 14.03.2026: dates the matcher may take for numbers.
    return bool(re.fullmatch(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", raw.strip()))


def _emails(text: str) -> Iterator[Span]:
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), EMAIL)


def _obfuscated_emails(text: str) -> Iterator[Span]:
    for match in _OBFUSCATED_EMAIL.finditer(text):
        yield Span(match.start(), match.end(), OBFUSCATED_EMAIL)


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = digits_of(match.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            yield Span(match.start(), match.end(), CARD)


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN.finditer(text):
        # Trailing words may have been swallowed: try shorter candidates too.
        raw = match.group()
        for end in range(len(raw), 14, -1):
            if raw[end - 1] == " ":
                continue
            if stdnum_iban.is_valid(raw[:end]):
                yield Span(match.start(), match.start() + end, IBAN)
                break


def _ssns(text: str) -> Iterator[Span]:
    for match in _SSN.finditer(text):
        area, _, group, serial = match.groups()
        if area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000":
            continue
        yield Span(match.start(), match.end(), SSN)


def _ips(text: str) -> Iterator[Span]:
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        yield Span(match.start(), match.end(), IP)
    for match in _IPV6.finditer(text):
        candidate = match.group()
        if candidate.count(":") < 2 or not any(c.isalnum() for c in candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield Span(match.start(), match.end(), IP)


def _addresses(text: str) -> Iterator[Span]:
    for pattern in _ADDRESSES:
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), ADDRESS)


def _spoken_numbers(text: str) -> Iterator[Span]:
    for match in _SPOKEN_NUMBER.finditer(text):
        yield Span(match.start(), match.end(), SPOKEN_NUMBER)


def _party_mentions(text: str, lexicon: PartyLexicon) -> Iterator[Span]:
    if lexicon.names_pattern is not None:
        for match in lexicon.names_pattern.finditer(text):
            party = lexicon.names.get(match.group().casefold())
            yield Span(match.start(), match.end(), PARTY, party)
    if lexicon.numbers:
        for match in _NUMBER_LIKE.finditer(text):
            party = lexicon.party_of_number(digits_of(match.group()))
            if party is not None:
                yield Span(match.start(), match.end(), PARTY, party)
    if lexicon.addresses:
        folded = text.casefold()
        for address, party in lexicon.addresses.items():
            start = folded.find(address)
            while start != -1:
                yield Span(start, start + len(address), PARTY, party)
                start = folded.find(address, start + 1)


_DETECTORS: Final[dict[str, Callable[[str], Iterator[Span]]]] = {
    EMAIL: _emails,
    OBFUSCATED_EMAIL: _obfuscated_emails,
    CARD: _cards,
    IBAN: _ibans,
    SSN: _ssns,
    IP: _ips,
    ADDRESS: _addresses,
    SPOKEN_NUMBER: _spoken_numbers,
}


def find_pii(
    text: str,
    *,
    kinds: Collection[str],
    lexicon: PartyLexicon = NO_PARTIES,
    regions: Collection[str] = DEFAULT_REGIONS,
) -> list[Span]:
    """Non-overlapping spans, in order. Where spans overlap they are joined;
    the joined span is a party's when any part was (its pseudonym replaces
    it), else the kind of its longest part."""
    if not text or not any(char.isalnum() for char in text):
        return []
    found: list[Span] = []
    if PARTY in kinds:
        found.extend(_party_mentions(text, lexicon))
    if PHONE in kinds and any(char.isdigit() for char in text):
        found.extend(
            _phones(text, (*lexicon.regions, *[r for r in regions if r not in lexicon.regions]))
        )
    for kind, detect in _DETECTORS.items():
        if kind in kinds:
            found.extend(detect(text))
    return _merged(found)


# Of two overlapping detections, the more specific names the joined span.
_PRECEDENCE: Final = {
    kind: rank
    for rank, kind in enumerate(
        (CARD, IBAN, SSN, IP, EMAIL, OBFUSCATED_EMAIL, PHONE, SPOKEN_NUMBER, ADDRESS)
    )
}


def _precedence(span: Span) -> tuple[int, int]:
    return (_PRECEDENCE.get(span.kind, 99), -(span.end - span.start))


def _merged(spans: list[Span]) -> list[Span]:
    if not spans:
        return []
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    for span in spans:
        last = merged[-1] if merged else None
        if last is None or span.start >= last.end:
            merged.append(span)
            continue
        end = max(last.end, span.end)
        if last.kind == PARTY:
            merged[-1] = Span(last.start, end, PARTY, last.party)
        elif span.kind == PARTY:
            merged[-1] = Span(last.start, end, PARTY, span.party)
        else:
            winner = min((last, span), key=_precedence)
            merged[-1] = Span(last.start, end, winner.kind)
    return merged
