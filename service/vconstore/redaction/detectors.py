"""Finding PII in text, by patterns with checks (no model): phone numbers
(libphonenumber), emails, payment cards (Luhn), IBANs (mod 97), US SSNs, IP
addresses, street addresses (heuristics for US, UK, DE, FR, ES, NL forms),
and every mention of the vCon's own parties (lexicon.py).

Each detector returns spans; `find_pii` merges them, a party's own
identifier winning over the generic kind it also is, so the replacement can
name the party's pseudonym.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
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
    r"(?<![\w.+-])[\w.%+-]+@\w(?:[\w-]*\w)?(?:\.\w(?:[\w-]*\w)?)*\.[^\W\d_]{2,}(?![\w-])"
)
# "maria at example dot com", and as German, Spanish, French and Italian
# speakers say it ("punkt", "arroba", "arobase", "punto", "point"). Tokens
# are possessive and repeats bounded: an ambiguous split ("x-dot-x") must not
# make the match exponential, nor a long "a dot a dot ..." quadratic.
_AT_WORDS: Final = r"(?:\[at\]|\(at\)|\b(?:at|arroba|arobase|chiocciola|klammeraffe)\b)"
_DOT_WORDS: Final = r"(?:\[dot\]|\(dot\)|\b(?:dot|punkt|punto|point)\b)"
_TOKEN: Final = r"[\w+-]++"
_OBFUSCATED_EMAIL: Final = re.compile(
    rf"(?i)(?<![\w+-]){_TOKEN}(?:\s*+(?:\.|{_DOT_WORDS})\s*+{_TOKEN}){{0,4}}"
    rf"\s*+{_AT_WORDS}\s*+{_TOKEN}(?:\s*+{_DOT_WORDS}\s*+{_TOKEN}){{1,4}}(?![\w-])"
)
_AT_HINT: Final = re.compile(_AT_WORDS, re.IGNORECASE)
_CARD: Final = re.compile(r"(?<![\d.-])\d(?:[ .-]?\d){12,18}(?![\d-])")
# "ext. 12", "x204", ", extensión 204", "Durchwahl 12" after a number.
_EXTENSION: Final = re.compile(
    r"(?i),?\s*(?:ext\.?|extension|extensión|extension|x|poste|durchwahl|dw\.?|interno)"
    r"\s*[:.]?\s*\d{1,6}\b"
)
# Runs longer than this are not handed to libphonenumber's matcher.
_MATCHER_MAX_CHARS: Final = 40
# A number inside a long run: digits with single separators, + or ( first.
_PART: Final = re.compile(r"\+?\(?\d(?:[().\-/]?\s?\d){6,14}")
_IBAN_START: Final = re.compile(r"(?i)[A-Z]{2}\d{2}")
# An IPv4 dotted quad, or an IPv6 group separator.
_IP_HINT: Final = re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]|::")
_IBAN: Final = re.compile(r"(?i)(?<![A-Z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Z0-9])")
_SSN: Final = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
_IPV6: Final = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_NUMBER_LIKE: Final = re.compile(r"(?<![\w])\+?\(?\d[\d\s().\-/]{4,}\d(?!\w)")
_DIGIT: Final = re.compile(r"\d")
_ALNUM: Final = re.compile(r"\w")
# Digit runs a phone number may be written as: +44 (0)20 7946 0958,
# (415) 555-0132, 030/12345678, 06-12345678, 415.555.0199.
_PHONE_CANDIDATE: Final = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-/]{5,}\d(?![\w])")
# 2026-03-14, 14/03/2026, 14.03.2026: dates are never phone numbers.
_DATE: Final = re.compile(r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\b")
# A number right after one of these words is a reference, not a phone.
_REFERENCE_CUE: Final = re.compile(
    r"(?i)\b(?:order|invoice|inv|ticket|case|ref|reference|tracking|"
    r"confirmation|booking|policy|sku|serial|transaction|txn|po|reservation|"
    r"claim|receipt|shipment|parcel|item|product|model|part)s?\b[\s:#.no]*$|#\s*$"
)

_US_SUFFIX: Final = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl"
    r"|Way|Parkway|Pkwy|Terrace|Ter|Circle|Cir|Highway|Hwy|Square|Sq|Close|Crescent|Row"
    r"|Gardens|Grove|Mews|Hill|Walk)\.?"
)
_UK_POSTCODE: Final = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_STREET_WORDS: Final = re.compile(
    r"(?i)\b(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl"
    r"|way|parkway|pkwy|terrace|ter|circle|cir|highway|hwy|square|sq|close|crescent|row"
    r"|gardens|grove|mews|hill|walk)\b"
)
_CONTINENTAL_WORDS: Final = re.compile(
    r"(?i)(?:stra(?:ß|ss)e|str\.|weg\b|platz|allee|gasse|ring\b|damm|gracht|laan\b|plein"
    r"|kade\b|dijk\b)"
)
_ROMANCE_WORDS: Final = re.compile(
    r"(?i)\b(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route|calle"
    r"|avenida|avda\.|plaza|paseo|carrer|via|viale|piazza|chaussée)\b"
)
_POSTCODE_CITY: Final = (
    # ", 10115 Berlin", ", 8001 Zürich", ", 1015 CJ Amsterdam", ", 75002 Paris"
    r"(?:,\s*(?:\d{4,5}|\d{4}\s?[A-Z]{2})\s+[A-ZÄÖÜÉ][\wäöüßéè-]+(?:\s+[A-Z][\w-]+)?)?"
)
_ADDRESS_FORMS: Final = (
    # 1600 Amphitheatre Parkway, Mountain View, CA 94043 / 221B Baker Street,
    # London NW1 6XE / Flat 3, 12 Acacia Avenue / 221 W 34th St Apt 5B /
    # 2417 Rainier Ave S, Seattle, WA 98144 / 1055 W Georgia St, Suite 300,
    # Vancouver, BC V6E 3P3
    re.compile(
        r"(?:(?:Flat|Apartment|Apt|Unit|Suite)\s+\w+,?\s+)?"
        r"\b\d{1,6}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w'.-]{0,40}\s+){0,4}"
        + _US_SUFFIX
        + r"(?:\s+[NSEW]{1,2}\b)?"
        r"(?:,?\s+(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[\w-]+)?"
        r"(?:,\s*[A-Z][A-Za-z.'-]*(?:\s+[A-Z][A-Za-z.'-]*){0,3})?"
        r"(?:,?\s+(?:[A-Z]{2}\s+(?:\d{5}(?:-\d{4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d)|"
        + _UK_POSTCODE
        + r"))?"
    ),
    # Hauptstraße 5, 10115 Berlin / Mariahilfer Straße 88/12, 1070 Wien /
    # Keizersgracht 123, 1015 CJ Amsterdam / Oudegracht 45-bis
    # (Word lengths are bounded: an unbounded `\w*` before the street word
    # made a long hyphenated run quadratic.)
    re.compile(
        r"\b(?:[A-ZÄÖÜ][\wäöüß-]{0,30}\s)?[\wäöüß-]{0,40}?(?i:straße|strasse|str\.|weg|platz"
        r"|allee|gasse|ring|damm|gracht|laan|plein|kade|dijk)\s+\d{1,5}(?:[/-]\w{1,4}|\s?[a-zA-Z])?\b"
        + _POSTCODE_CITY
    ),
    # 12 rue de la Paix, 75002 Paris
    re.compile(
        r"(?i:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin"
        r"|allée|impasse|quai|route)\s+(?:(?:de|du|des|la|le)\s+|l'|d'){0,3})[\w'-]{1,40}"
        r"(?:\s+[\w'-]{1,40}){0,3}?" + _POSTCODE_CITY + r"(?=[\s,.;:!?)]|$)"
    ),
    # Calle Mayor 12, 3º B, 28013 Madrid / Rue Neuve 123, 1000 Bruxelles /
    # Avenue Louise 231 boîte 4, 1050 Ixelles
    re.compile(
        r"\b(?:Calle|Avenida|Avda\.|Av\.|Plaza|Paseo|Carrer|Via|Viale|Piazza|Rue|Avenue"
        r"|Boulevard|Chaussée)\s+(?:(?:de|del|la|di|du|des)\s+){0,3}"
        r"[A-Z][\w'-]{0,40}(?:\s+[A-Z][\w'-]{0,40}){0,3},?\s+\d{1,4}"
        r"(?:,?\s+(?:\d+º\s?\w{0,4}|boîte\s+\d+|bus\s+\d+))?" + _POSTCODE_CITY
    ),
    re.compile(r"\b" + _UK_POSTCODE + r"\b"),
)
_ADDRESSES: Final = tuple(
    zip(
        (_STREET_WORDS, _CONTINENTAL_WORDS, _ROMANCE_WORDS, _ROMANCE_WORDS, None),
        _ADDRESS_FORMS,
        strict=True,
    )
)
_DIGIT_WORDS: Final = "zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple"
_SPOKEN_NUMBER: Final = re.compile(
    rf"(?i)(?<!\w)(?:(?:{_DIGIT_WORDS})[\s,.-]+){{6,}}(?:{_DIGIT_WORDS})(?!\w)"
)


def _phones(text: str, regions: Collection[str], *, taken: Sequence[Span] = ()) -> Iterator[Span]:
    """Candidates (digit runs with the separators people write) parsed by
    libphonenumber for each region until one says it is a possible number.
    Parsing a few candidates is ~10x cheaper than its matcher's full scan.
    A candidate with a date in it is split around the date; a long one that
    is not a number as a whole goes to the matcher (numbers run together)."""
    covered = _Taken(taken)
    for match in _PHONE_CANDIDATE.finditer(text):
        raw, start = match.group(), match.start()
        if _cued(text, start) or covered.covers_most_of(start, match.end()):
            continue
        if _DATE.search(raw):
            yield from _phones_between_dates(text, start, raw, regions)
            continue
        if not _not_a_phone(raw) and _possible(raw, regions):
            extension = _EXTENSION.match(text, match.end())
            yield Span(start, match.end() if extension is None else extension.end(), PHONE)
        elif len(raw) > _MATCHER_MAX_CHARS:
            # A long run of digits and spaces (a table, a hostile body): its
            # space-separated parts, each parsed like a candidate, not the
            # matcher, whose cost grows with the run.
            yield from _phones_in_parts(text, start, raw, regions)
        elif len(digits_of(raw)) >= 12:
            yield from _matched(raw, start, regions)


def _phone_pieces(
    text: str, start: int, pieces: Iterable[re.Match[str]], regions: Collection[str]
) -> Iterator[Span]:
    """The pieces (matches inside a candidate at `start`) that are numbers."""
    for piece in pieces:
        number, at = piece.group(), start + piece.start()
        if not _cued(text, at) and not _not_a_phone(number) and _possible(number, regions):
            yield Span(at, start + piece.end(), PHONE)


def _phones_in_parts(text: str, start: int, raw: str, regions: Collection[str]) -> Iterator[Span]:
    return _phone_pieces(text, start, _PART.finditer(raw), regions)


def _phones_between_dates(
    text: str, start: int, raw: str, regions: Collection[str]
) -> Iterator[Span]:
    cursor = 0
    for date in [*_DATE.finditer(raw), None]:
        end = len(raw) if date is None else date.start()
        yield from _phone_pieces(text, start, _PHONE_CANDIDATE.finditer(raw, cursor, end), regions)
        if date is not None:
            cursor = date.end()


def _matched(raw: str, start: int, regions: Collection[str]) -> Iterator[Span]:
    for region in regions:
        inner = [
            found
            for found in phonenumbers.PhoneNumberMatcher(
                raw, region, leniency=phonenumbers.Leniency.POSSIBLE
            )
            if not _not_a_phone(found.raw_string) and not _cued(raw, found.start)
        ]
        for found in inner:
            yield Span(start + found.start, start + found.end, PHONE)
        if inner:
            return


class _Taken:
    """What other detectors found, as sorted disjoint intervals: how much of
    a candidate they cover, in O(log n) per candidate (a text may hold
    thousands of both)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted((s.start, s.end) for s in spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [interval[0] for interval in merged]
        self._intervals = merged

    def covers_most_of(self, start: int, end: int) -> bool:
        index = max(0, bisect.bisect_right(self._starts, start) - 1)
        inside = 0
        for low, high in self._intervals[index:]:
            if low >= end:
                break
            inside += max(0, min(end, high) - max(start, low))
        return inside * 2 >= end - start


def _possible(raw: str, regions: Collection[str]) -> bool:
    for region in regions:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return True
        if raw.lstrip().startswith("+"):
            return False  # the country code decided: no other region applies
    return False


def _not_a_phone(raw: str) -> bool:
    """Too short or long for a phone number, or a date or IP address in it."""
    digits = digits_of(raw)
    international = raw.lstrip().startswith("+")
    if len(digits) > 15 or len(digits) < (8 if international else 9):
        return True
    return _DATE.search(raw) is not None or _IPV4.fullmatch(raw.strip()) is not None


def _cued(text: str, start: int) -> bool:
    """Part of a code, or right after a word saying it is a reference."""
    cue = _REFERENCE_CUE.search(text[max(0, start - 24) : start])
    return _glued(text, start) or cue is not None


def _glued(text: str, start: int) -> bool:
    """Digits that continue a code (ORD-2024-88172, INV/2291-3345, A12-...)."""
    before = text[max(0, start - 2) : start]
    if not before:
        return False
    if before[-1].isalnum():
        return True
    if before[-1] == ":":
        return False  # "Phone:4155550132", "tel:+1...", "M:07700 900123": a label
    return before[-1] in "-/#_" and len(before) == 2 and before[0].isalnum()


def _emails(text: str) -> Iterator[Span]:
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), EMAIL)


def _obfuscated_emails(text: str) -> Iterator[Span]:
    if _AT_HINT.search(text) is None:
        return
    for match in _OBFUSCATED_EMAIL.finditer(text):
        yield Span(match.start(), match.end(), OBFUSCATED_EMAIL)


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = digits_of(match.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            yield Span(match.start(), match.end(), CARD)


def _ibans(text: str) -> Iterator[Span]:
    if _IBAN_START.search(text) is None:
        return
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
    if _IP_HINT.search(text) is None:
        return
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
    # Every form has a house number or a postcode: no digit, no address.
    if _DIGIT.search(text) is None:
        return
    for hint, pattern in _ADDRESSES:
        if hint is None or hint.search(text) is not None:
            for match in pattern.finditer(text):
                yield Span(match.start(), match.end(), ADDRESS)


def _spoken_numbers(text: str) -> Iterator[Span]:
    for match in _SPOKEN_NUMBER.finditer(text):
        yield Span(match.start(), match.end(), SPOKEN_NUMBER)


def _name_words(text: str, words: Mapping[str, int]) -> Iterator[Span]:
    """Each word that is a party's name or part of it; a run of them of the
    same party, separated by spaces or hyphens only, as one span."""
    run: Span | None = None
    for match in _WORD.finditer(text):
        word = match.group()
        party = words.get(word.lower())
        if party is None:
            party = words.get(word.casefold())
        if party is None:
            continue
        if (
            run is not None
            and run.party == party
            and _JOINER.fullmatch(text, run.end, match.start())
        ):
            run = Span(run.start, match.end(), PARTY, party)
            continue
        if run is not None:
            yield run
        run = Span(match.start(), match.end(), PARTY, party)
    if run is not None:
        yield run


def _party_mentions(text: str, lexicon: PartyLexicon) -> Iterator[Span]:
    if lexicon.name_words:
        yield from _name_words(text, lexicon.name_words)
    if lexicon.names_pattern is not None:
        for match in lexicon.names_pattern.finditer(text):
            party = lexicon.names.get(match.group().casefold())
            yield Span(match.start(), match.end(), PARTY, party)
    if lexicon.numbers:
        for match in _NUMBER_LIKE.finditer(text):
            party = lexicon.party_of_number(digits_of(match.group()))
            if party is not None:
                yield Span(match.start(), match.end(), PARTY, party)
    if lexicon.addresses_pattern is not None:
        # On the text itself (case-insensitively): offsets in a case-folded
        # copy drift where folding changes a length (ß -> ss).
        for match in lexicon.addresses_pattern.finditer(text):
            party = lexicon.addresses.get(match.group().casefold())
            if party is None:
                party = next(iter(lexicon.addresses.values()))
            yield Span(match.start(), match.end(), PARTY, party)


_WORD: Final = re.compile(r"\w+")
# What may separate the words of one name: "Maria Okafor", "Okafor-Smith".
_JOINER: Final = re.compile(r"[ \t\-]{1,3}")
_NEED_DIGITS: Final = frozenset({CARD, IBAN, SSN, IP, ADDRESS})
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
    if not text or _ALNUM.search(text) is None:
        return []
    found: list[Span] = []
    if PARTY in kinds:
        found.extend(_party_mentions(text, lexicon))
    digits = _DIGIT.search(text) is not None
    for kind, detect in _DETECTORS.items():
        # Most texts (and most short members) hold no digit: then only the
        # detectors of what can be written without one run.
        if kind in kinds and (digits or kind not in _NEED_DIGITS):
            if kind == EMAIL and "@" not in text:
                continue
            found.extend(detect(text))
    if PHONE in kinds and digits:
        # Last, and around what the others found: parsing a card number or
        # a party's own number as a phone number is the costliest part.
        found.extend(
            _phones(
                text,
                (*lexicon.regions, *[r for r in regions if r not in lexicon.regions]),
                taken=found,
            )
        )
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
