"""How well redaction finds PII, measured on the labelled set in
tests/data/redaction/ (55 synthetic transcripts, chats and emails in several
languages; see its README): recall per kind, precision overall, printed,
and asserted against the issue's bars (recall >= 0.95 on phone, email,
card, IBAN, SSN and party identifiers; precision >= 0.9).

A labelled span counts as found when detections cover at least 80% of its
characters (whatever kind they name: what matters is that it is removed).
A detection is a false positive when it covers no labelled span at all.
Items marked `hard` (numbers read out as words, obfuscated emails) are
measured under pii-strict, which targets them; the rest under pii-default.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vconstore.redaction.detectors import Span, find_pii
from vconstore.redaction.lexicon import PartyLexicon
from vconstore.redaction.policies import BUILT_IN

LABELLED = Path(__file__).resolve().parents[1] / "data" / "redaction" / "labelled.json"
FOUND_SHARE = 0.8
PARTY_KINDS = ("party_name", "party_tel", "party_mailto")
# The bars.
RECALL_BARS = {
    "phone": 0.95,
    "email": 0.95,
    "card": 0.95,
    "iban": 0.95,
    "ssn": 0.95,
    "party identifiers": 0.95,
}
PRECISION_BAR = 0.9


@dataclass
class Tally:
    found: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[str, str, str]] = field(default_factory=list)
    true_positives: int = 0
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)
    look_alikes_hit: list[tuple[str, str, str]] = field(default_factory=list)

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.total[kind] if self.total[kind] else 1.0

    @property
    def precision(self) -> float:
        positives = self.true_positives + len(self.false_positives)
        return self.true_positives / positives if positives else 1.0


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(needle), text)]


def _covered(start: int, end: int, spans: list[Span]) -> int:
    return sum(max(0, min(end, s.end) - max(start, s.start)) for s in spans)


def measure(items: list[dict[str, Any]]) -> Tally:
    tally = Tally()
    for item in items:
        policy = BUILT_IN["pii-strict" if item.get("hard") else "pii-default"]
        text = item["text"]
        spans = find_pii(
            text,
            kinds=policy.text_kinds,
            lexicon=PartyLexicon.of(item["parties"]),
            regions=policy.regions,
        )
        labelled: list[tuple[int, int]] = []
        for pii in item["pii"]:
            kind = "party identifiers" if pii["kind"] in PARTY_KINDS else pii["kind"]
            kind = "email" if pii["kind"] == "email" else kind
            for start, end in _occurrences(text, pii["text"]):
                labelled.append((start, end))
                tally.total[kind] += 1
                if _covered(start, end, spans) >= FOUND_SHARE * (end - start):
                    tally.found[kind] += 1
                else:
                    tally.missed.append((item["id"], pii["kind"], pii["text"]))
        look_alikes = [
            (start, end, n["text"])
            for n in item["not_pii"]
            for start, end in _occurrences(text, n["text"])
        ]
        for span in spans:
            if any(min(span.end, e) > max(span.start, s) for s, e in labelled):
                tally.true_positives += 1
                continue
            detected = text[span.start : span.end]
            tally.false_positives.append((item["id"], span.kind, detected))
            for start, end, look_alike in look_alikes:
                if min(span.end, end) > max(span.start, start):
                    tally.look_alikes_hit.append((item["id"], span.kind, look_alike))
    return tally


@pytest.fixture(scope="module")
def tally() -> Tally:
    items = json.loads(LABELLED.read_text(encoding="utf-8"))
    assert len(items) >= 40
    return measure(items)


def test_report(tally: Tally, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\nredaction quality on tests/data/redaction/labelled.json")
        for kind in sorted(tally.total):
            print(
                f"  recall {kind:18s} {tally.recall(kind):.3f}"
                f"  ({tally.found[kind]}/{tally.total[kind]})"
            )
        print(
            f"  precision overall     {tally.precision:.3f}"
            f"  ({tally.true_positives} right, {len(tally.false_positives)} wrong)"
        )
        for item, kind, text in tally.missed:
            print(f"  missed      {item}: {kind} {text!r}")
        for item, kind, text in tally.false_positives:
            print(f"  over-redacted {item}: {kind} {text!r}")
    assert tally.total


@pytest.mark.parametrize("kind", sorted(RECALL_BARS))
def test_recall_meets_the_bar(tally: Tally, kind: str) -> None:
    assert tally.total[kind] > 0
    assert tally.recall(kind) >= RECALL_BARS[kind], [m for m in tally.missed if kind in m[1]]


def test_precision_meets_the_bar(tally: Tally) -> None:
    assert tally.precision >= PRECISION_BAR, tally.false_positives
