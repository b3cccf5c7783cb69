#!/usr/bin/env python3
"""Validate the labelled PII-redaction dataset (labelled.json).

Usage: python3 check_labels.py [path/to/labelled.json]

Checks every item's shape, that every labelled span is an exact substring
of the text at word boundaries, that no not_pii occurrence overlaps a pii
occurrence, and kind-specific rules (Luhn for cards, ISO 13616 mod-97 for
IBANs, SSA rules for SSNs, ipaddress for IPs, libphonenumber "possible
number" for phones when the optional `phonenumbers` package is importable,
party_* spans against the item's parties).  Prints coverage counts per kind
and exits 1 on any problem.  Stdlib only, plus optional phonenumbers.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

try:  # optional
    import phonenumbers
except ImportError:  # pragma: no cover - depends on environment
    phonenumbers = None

PII_KINDS = {
    "phone",
    "email",
    "card",
    "iban",
    "ssn",
    "ip",
    "address",
    "party_name",
    "party_tel",
    "party_mailto",
}
CHANNELS = {"transcript", "chat", "email", "sms", "summary"}
ITEM_KEYS = {
    "id",
    "channel",
    "language",
    "parties",
    "text",
    "pii",
    "not_pii",
    "hard",
    "region",
    "note",
}
PARTY_KEYS = {"name", "tel", "mailto"}
TARGETS = {
    "phone": 40,
    "party_name": 40,
    "party_tel": 25,
    "email": 10,
    "party_mailto": 10,
    "card": 20,
    "iban": 20,
    "ssn": 15,
    "ip": 15,
    "address": 20,
}
DEFAULT_REGION = {
    "en": "US",
    "de": "DE",
    "fr": "FR",
    "es": "ES",
    "nl": "NL",
    "it": "IT",
    "pt": "PT",
    "pl": "PL",
    "sv": "SE",
    "da": "DK",
    "hi": "IN",
}
NAME_PARTICLES = {
    "van",
    "von",
    "de",
    "der",
    "den",
    "du",
    "la",
    "le",
    "da",
    "di",
    "del",
    "dos",
    "y",
    "bin",
    "al",
}
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
SSN_SHAPE = re.compile(r"^(\d{3})([- ])(\d{2})\2(\d{4})$")
IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
DIGIT_RUN = re.compile(r"\+?\d(?:[ \t().\-/]{0,2}\d){6,}")
DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
EXTENSION = re.compile(
    r"[,;]?\s*(?:ext\.?|extension|extensión|poste|durchwahl|toestel|x)\s*\d{1,6}$", re.IGNORECASE
)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,60}$")
LANG_RE = re.compile(r"^[a-z]{2}(?:-[A-Z]{2})?$")


# ---------------------------------------------------------------- helpers
def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    if a == 0 or a == 666 or a >= 900:
        return False
    if group == "00" or serial == "0000":
        return False
    return f"{area}-{group}-{serial}" not in {"078-05-1120", "219-09-9999", "123-45-6789"}


def spoken_digits(span: str) -> str | None:
    """'four one five, double oh...' -> '41500...'; None if any word is not a digit word."""
    out, mult = [], 1
    for tok in re.split(r"[\s,.;/-]+", span.lower()):
        if not tok:
            continue
        if tok in ("double", "triple"):
            mult = 2 if tok == "double" else 3
            continue
        if tok.isdigit():
            out.append(tok * mult if len(tok) == 1 else tok)
        elif tok in DIGIT_WORDS:
            out.append(DIGIT_WORDS[tok] * mult)
        else:
            return None
        mult = 1
    return "".join(out) or None


def deobfuscate(span: str) -> str:
    s = re.sub(r"\s*(?:[\[(]\s*at\s*[\])]|\bat\b|\barroba\b|\barobase\b)\s*", "@", span, flags=re.I)
    return re.sub(
        r"\s*(?:[\[(]\s*dot\s*[\])]|\bdot\b|\bpunkt\b|\bpunto\b|\bpoint\b)\s*", ".", s, flags=re.I
    )


def fold(s: str) -> set[str]:
    """Case-insensitive variants: as is, accents stripped, German transliteration."""
    base = s.casefold()
    plain = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
    german = base.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return {base, plain, german}


def occurrences(text: str, sub: str) -> list[tuple[int, int]]:
    out, i = [], text.find(sub)
    while i >= 0:
        out.append((i, i + len(sub)))
        i = text.find(sub, i + 1)
    return out


def region_of(item: dict) -> str:
    if item.get("region"):
        return item["region"]
    lang = item.get("language", "en")
    if "-" in lang:
        return lang.split("-", 1)[1]
    return DEFAULT_REGION.get(lang, "US")


# ---------------------------------------------------------------- checks
def check_item(item: dict, idx: int, errors: list[str], notes: list[str]) -> None:
    where = f"item {idx} ({item.get('id', '?')})"

    def err(msg: str) -> None:
        errors.append(f"{where}: {msg}")

    if not isinstance(item, dict):
        err("not an object")
        return
    for k in ("id", "channel", "language", "parties", "text", "pii", "not_pii"):
        if k not in item:
            err(f"missing key {k!r}")
    if errors and errors[-1].startswith(where + ": missing"):
        return
    for k in set(item) - ITEM_KEYS:
        err(f"unknown key {k!r}")
    if not isinstance(item["id"], str) or not ID_RE.match(item["id"]):
        err(f"bad id {item['id']!r}")
    if item["channel"] not in CHANNELS:
        err(f"bad channel {item['channel']!r}")
    if not isinstance(item["language"], str) or not LANG_RE.match(item["language"]):
        err(f"bad language {item['language']!r}")
    if "hard" in item and not isinstance(item["hard"], bool):
        err("'hard' must be a boolean")
    hard = bool(item.get("hard"))
    text = item["text"]
    if not isinstance(text, str) or not 300 <= len(text) <= 2500:
        got = len(text) if isinstance(text, str) else type(text).__name__
        err(f"text must be a string of 300-2500 characters (got {got})")
        return

    parties = item["parties"]
    if not isinstance(parties, list) or not 2 <= len(parties) <= 3:
        err("parties must be a list of 2-3 objects")
        parties = parties if isinstance(parties, list) else []
    tels, mails, names = set(), set(), []
    for p in parties:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not p["name"].strip():
            err(f"party without a name: {p!r}")
            continue
        for k in set(p) - PARTY_KEYS:
            err(f"party {p['name']!r}: unknown key {k!r}")
        names.append(p["name"])
        if "tel" in p:
            if not isinstance(p["tel"], str) or not E164.match(p["tel"]):
                err(f"party {p['name']!r}: tel {p.get('tel')!r} is not E.164")
            else:
                tels.add(p["tel"])
        if "mailto" in p:
            if not isinstance(p["mailto"], str) or not EMAIL.match(p["mailto"]):
                err(f"party {p['name']!r}: bad mailto {p.get('mailto')!r}")
            else:
                mails.add(p["mailto"].casefold())

    region = region_of(item)
    regions = [region]
    if phonenumbers is not None:
        for t in sorted(tels):
            r = phonenumbers.region_code_for_number(phonenumbers.parse(t, None))
            if r and r not in regions:
                regions.append(r)

    spans: dict[str, list[tuple[str, str]]] = {"pii": [], "not_pii": []}
    for field in ("pii", "not_pii"):
        seen = set()
        if not isinstance(item[field], list):
            err(f"{field} must be a list")
            continue
        for s in item[field]:
            if (
                not isinstance(s, dict)
                or set(s) != {"kind", "text"}
                or not all(isinstance(s[k], str) for k in s)
            ):
                err(f"{field}: bad span {s!r}")
                continue
            kind, t = s["kind"], s["text"]
            if field == "pii" and kind not in PII_KINDS:
                err(f"pii: unknown kind {kind!r}")
            if field == "not_pii" and not re.match(r"^[a-z][a-z0-9_]*$", kind):
                err(f"not_pii: kind {kind!r} must be snake_case")
            if not t or t != t.strip():
                err(f"{field}: empty or padded span {t!r}")
                continue
            if (kind, t) in seen:
                err(f"{field}: duplicate span {kind}:{t!r}")
            seen.add((kind, t))
            if t not in text:
                err(f"{field}: {kind}:{t!r} is not a substring of text")
                continue
            for a, b in occurrences(text, t):
                if (a > 0 and text[a - 1].isalnum() and t[0].isalnum()) or (
                    b < len(text) and text[b].isalnum() and t[-1].isalnum()
                ):
                    err(f"{field}: {kind}:{t!r} occurs inside a longer word at {a}")
            spans[field].append((kind, t))

    pii_texts = {t for _, t in spans["pii"]}
    for _kind, t in spans["not_pii"]:
        if t in pii_texts:
            err(f"not_pii {t!r} is also labelled pii")

    # overlaps
    pii_occ = [(a, b, k, t) for k, t in spans["pii"] for a, b in occurrences(text, t)]
    for k, t in spans["not_pii"]:
        for a, b in occurrences(text, t):
            for pa, pb, pk, pt in pii_occ:
                if a < pb and pa < b:
                    err(f"not_pii {k}:{t!r} at {a} overlaps pii {pk}:{pt!r} at {pa}")
    for i, (a, b, k, t) in enumerate(pii_occ):
        for pa, pb, pk, pt in pii_occ[i + 1 :]:
            if k != pk and a < pb and pa < b:
                err(f"pii {k}:{t!r} at {a} overlaps pii {pk}:{pt!r} at {pa} (different kinds)")

    # kind rules
    for kind, t in spans["pii"]:
        spoken = spoken_digits(t) if re.search(r"[A-Za-z]", t) else None
        if kind == "card":
            d = spoken if (hard and spoken) else re.sub(r"[ -]", "", t)
            if not (d.isdigit() and 13 <= len(d) <= 19 and luhn_ok(d)):
                err(f"card {t!r} is not a 13-19 digit Luhn-valid number")
        elif kind == "iban":
            c = t.replace(" ", "")
            if not (IBAN_SHAPE.match(c) and iban_ok(c)):
                err(f"iban {t!r} fails shape or mod-97")
        elif kind == "ssn":
            m = SSN_SHAPE.match(t)
            if m:
                ok = ssn_ok(m.group(1), m.group(3), m.group(4))
            elif hard and spoken and len(spoken) == 9:
                ok = ssn_ok(spoken[:3], spoken[3:5], spoken[5:])
            else:
                ok = False
            if not ok:
                err(f"ssn {t!r} is not a valid ddd-dd-dddd / ddd dd dddd SSN")
        elif kind == "ip":
            cand = t
            if hard:
                cand = re.sub(r"\s*\bdot\b\s*", ".", cand, flags=re.I).replace(" ", "")
            try:
                ipaddress.ip_address(cand)
            except ValueError:
                err(f"ip {t!r} is not an IPv4/IPv6 address")
        elif kind in ("email", "party_mailto"):
            cand = t if EMAIL.match(t) else (deobfuscate(t) if hard else t)
            if not EMAIL.match(cand):
                err(f"{kind} {t!r} is not an email address")
            elif kind == "party_mailto" and cand.casefold() not in mails:
                err(f"party_mailto {t!r} is no party's mailto")
            elif kind == "email" and cand.casefold() in mails:
                err(f"email {t!r} is a party's mailto; label it party_mailto")
        elif kind == "party_name":
            ok = False
            if hard and re.fullmatch(r"(?:[^\W\d_][\s.-]){2,}[^\W\d_]", t):
                t = re.sub(r"[\s.-]", "", t)  # spelled letter by letter: B-E-A-T-R-I-Z
            tf = fold(t)
            for n in names:
                toks = n.split()
                subs = {
                    " ".join(toks[i:j])
                    for i in range(len(toks))
                    for j in range(i + 1, len(toks) + 1)
                }
                if any(tf & fold(s) for s in subs):
                    ok = True
            if not ok:
                err(f"party_name {t!r} is not a party's name or part of it")
        elif kind == "address" and not hard and not re.search(r"\d", t):
            err(f"address {t!r} has no house number (mark the item hard if intended)")
        if kind in ("phone", "party_tel"):
            cand = EXTENSION.sub("", t)
            if re.search(r"[^\W\d_]", cand):
                if not hard:
                    err(f"{kind} {t!r} has letters but the item is not marked hard")
                    continue
                if not spoken:
                    notes.append(f"{where}: skipped phone check for spelled-out {t!r}")
                    continue
                cand = spoken
            if phonenumbers is None:
                continue
            e164s = set()
            # 'phone' must be possible in the item's own region; a party's own
            # number may also be written nationally for the party's country.
            for r in regions if kind == "party_tel" else [region]:
                try:
                    n = phonenumbers.parse(cand, r)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.is_possible_number(n):
                    e164s.add(phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164))
            if not e164s:
                err(f"{kind} {t!r} is not a possible number for region {region}")
            elif kind == "party_tel" and not (e164s & tels):
                err(f"party_tel {t!r} ({', '.join(sorted(e164s))}) is no party's tel")
            elif kind == "phone" and e164s & tels:
                err(f"phone {t!r} is a party's own number; label it party_tel")

    # not_pii look-alike rules
    for kind, t in spans["not_pii"]:
        compact = re.sub(r"[ -]", "", t)
        if compact.isdigit() and 13 <= len(compact) <= 19 and luhn_ok(compact):
            err(f"not_pii {t!r} looks like a card and passes Luhn")
        c = t.replace(" ", "")
        if IBAN_SHAPE.match(c) and iban_ok(c):
            err(f"not_pii {t!r} is a valid IBAN")
        m = SSN_SHAPE.match(t)
        if m and ssn_ok(m.group(1), m.group(3), m.group(4)):
            err(f"not_pii {t!r} is a valid SSN")
        if EMAIL_IN_TEXT.search(t):
            err(f"not_pii {t!r} contains an email address")
        try:
            ipaddress.ip_address(t)
            notes.append(
                f"{where}: not_pii {kind}:{t!r} is also a syntactically valid IP"
                " (deliberately ambiguous)"
            )
        except ValueError:
            pass

    # completeness: party-name tokens and email addresses in text must be labelled
    covered = [(a, b) for a, b, _, _ in pii_occ]
    labelled = covered + [(a, b) for _, t in spans["not_pii"] for a, b in occurrences(text, t)]

    def inside(a: int, b: int, ivs: list[tuple[int, int]]) -> bool:
        return any(x <= a and b <= y for x, y in ivs)

    for n in names:
        for tok in n.split():
            if tok.casefold() in NAME_PARTICLES or len(tok) < 2:
                continue
            for m in re.finditer(r"(?<!\w)" + re.escape(tok) + r"(?!\w)", text, re.IGNORECASE):
                if not inside(m.start(), m.end(), covered):
                    found = text[m.start() : m.end()]
                    err(f"party name token {tok!r} at {m.start()} ({found!r}) is not labelled")
    for m in EMAIL_IN_TEXT.finditer(text):
        if not inside(m.start(), m.end(), covered):
            err(f"email-like {m.group()!r} at {m.start()} is not labelled pii")
    for m in DIGIT_RUN.finditer(text):
        if not any(m.start() < y and x < m.end() for x, y in labelled):
            notes.append(f"{where}: unlabelled digit run {m.group()!r}")


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("labelled.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}")
        return 1
    errors: list[str] = []
    notes: list[str] = []
    if not isinstance(data, list) or not data:
        print("top level must be a non-empty JSON array")
        return 1
    ids = Counter(i.get("id") for i in data if isinstance(i, dict))
    for k, v in ids.items():
        if v > 1:
            errors.append(f"duplicate id {k!r}")
    for idx, item in enumerate(data):
        check_item(item, idx, errors, notes)

    counts: Counter[str] = Counter()
    not_pii = Counter()
    for item in data:
        if isinstance(item, dict):
            counts.update(s.get("kind") for s in item.get("pii", []) if isinstance(s, dict))
            not_pii.update(s.get("kind") for s in item.get("not_pii", []) if isinstance(s, dict))
    langs = Counter(i.get("language") for i in data if isinstance(i, dict))
    hard = sum(1 for i in data if isinstance(i, dict) and i.get("hard"))

    if phonenumbers is None:
        print("note: phonenumbers not importable; phone/party_tel possibility checks skipped")
    for n in notes:
        print("note:", n)
    print(f"items: {len(data)} (hard: {hard}); languages: {dict(sorted(langs.items()))}")
    print("pii spans per kind:")
    for k in sorted(PII_KINDS):
        tgt = TARGETS.get(k)
        flag = "" if tgt is None or counts[k] >= tgt else f"  (below target {tgt})"
        print(f"  {k:13s} {counts[k]:4d}{flag}")
    print(f"  {'email+mailto':13s} {counts['email'] + counts['party_mailto']:4d}")
    print(f"not_pii spans: {sum(not_pii.values())} ({len(not_pii)} kinds)")
    for k, v in sorted(not_pii.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {k:20s} {v:4d}")
    if errors:
        print(f"\n{len(errors)} problem(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
