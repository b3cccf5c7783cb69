"""What the validation policy does with every published vCon of the public corpus.

Each entry was decided by reading the file against the policy of issue 2
("Versions and real-world vCons"), not by recording what the code outputs:

* `Accepted(warnings=[(path, substring), ...])`: accepted; the warning paths
  are exactly these (each message contains its substring).
* `Refused(violations=[(path, substring), ...])`: refused; each listed
  violation is present. `complete=True` says the list is every violation the
  policy finds, so a test may also require nothing else.

The table is for the default policy (not strict, no supported extensions, no
trust anchors) and `assign_uuid` unset; `ASSIGN_UUID` overrides the files
whose outcome changes when it is set. In strict mode every warning of an
`Accepted` file becomes a violation at the same path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def _corpus_dir() -> Path:
    """VCON_CORPUS_DIR, else the copy committed under tests/, else ../shared next to the repo."""
    override = os.environ.get("VCON_CORPUS_DIR")
    if override:
        return Path(override)
    committed = _REPO / "tests" / "corpus" / "public"
    if committed.is_dir():
        return committed
    return _REPO.parent / "shared" / "corpus" / "public"


CORPUS_DIR = _corpus_dir()


@dataclass(frozen=True)
class Accepted:
    warnings: list[tuple[str, str]] = field(default_factory=list)
    detected_version: str | None = None
    signed: bool = False


@dataclass(frozen=True)
class Refused:
    violations: list[tuple[str, str]]
    reason: str = "VCON_INVALID"
    complete: bool = True


Expectation = Accepted | Refused

_MISSING_CREATED_AT = ("created_at", "missing")
_ENCRYPTED = Refused([("", "encrypted (JWE) form of a vCon cannot be stored")], "VCON_ENCRYPTED")

EXPECTATIONS: dict[str, Expectation] = {
    # draft-03 examples: no `vcon` member (0.4.0 era names), mostly no created_at.
    "01-draft03-call-inline-recording.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    "02-draft03-call-external-recording.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    # analysis body is a JSON object with encoding "json": fine.
    "03-draft03-call-analysis-json.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    # empty group [] and redacted {} are legal (group existed until core-02).
    "04-draft03-email-multipart-thread.json": Accepted([], "0.4.0"),
    "05-draft03-email-text-thread.json": Accepted([], "0.4.0"),
    "06-draft03-email-image.json": Accepted([], "0.4.0"),
    # JWS verifies against its own x5c; the payload is file 02, so the same warning, inside it.
    "07-draft03-signed-jws.json": Accepted(
        [("payload.created_at", "missing")], "0.4.0", signed=True
    ),
    "08-draft03-encrypted-jwe.json": _ENCRYPTED,
    # dialog without url/body (redacted) is allowed; analysis body array with json.
    "09-draft03-redacted.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    "10-draft03-amended.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    "11-draft03-transcript-and-redacted-transcript.json": Accepted([_MISSING_CREATED_AT], "0.4.0"),
    # mimetype + alg/signature (container-00 names) are understood without warnings.
    "12-container00-call-external-v0.0.1.json": Accepted([_MISSING_CREATED_AT], "0.0.1"),
    "13-container02-email-text-thread-v0.0.2.json": Accepted([], "0.0.2"),
    # legacy `appended` object.
    "14-core00era-appended-v0.0.2.json": Accepted([_MISSING_CREATED_AT], "0.0.2"),
    "15-core02-redacted-v0.0.2.json": Accepted([_MISSING_CREATED_AT], "0.0.2"),
    "16-container00-encrypted-cyphertext-typo.json": _ENCRYPTED,
    # No uuid (everything else is fine: created_at "Z", vendors present).
    "17-vcon-mcp-siprec-v0.3.0-no-uuid.json": Refused([("uuid", "missing")]),
    # uuid "SAMPLE-1234-abcd-5678"; its bodies without encoding are only warnings.
    "18-vcon-mcp-text-chat-v0.0.1.json": Refused([("uuid", "8-4-4-4-12")]),
    # encoding "base64" (vcon-lib); attachment `type` is the pre-core-02 name of purpose.
    "19-vcon-info-basic-call-v0.3.0.json": Accepted([("dialog[0].encoding", "base64")], "0.3.0"),
    # dialog start without offset; object/array bodies with encoding "none". The
    # url is https; disposition "ANSWERED" is not a checked value (not in the policy).
    "20-conserver-legacy-v0.0.1.json": Accepted(
        [
            ("dialog[0].start", "no UTC offset"),
            ("attachments[0].body", 'encoding is "none"'),
            ("analysis[0].body", 'encoding is "none"'),
        ],
        "0.0.1",
    ),
    # 22 text dialogs, each with a body and no encoding.
    "21-vcon-js-fake-text-chat-v0.0.1.json": Accepted(
        [(f"dialog[{i}].body", "without encoding") for i in range(22)], "0.0.1"
    ),
    # No vcon: vendor required, present. wav body without encoding; transcript body an
    # object with encoding "none"; analysis[2] body "" needs no encoding. `mimetype`
    # and party `role` pin the era to 0.0.1.
    "22-vcon-js-interop-call-nonstandard.json": Accepted(
        [
            ("dialog[0].body", "without encoding"),
            ("analysis[0].body", 'encoding is "none"'),
        ],
        "0.0.1",
    ),
    # No uuid, RFC 2822 start.
    "23-py-vcon-pre-0.0.1-shape.json": Refused(
        [("uuid", "missing"), ("dialog[0].start", "ISO 8601")]
    ),
    # `extensions` only (not critical): fine. encoding "base64". `extensions` (core-00)
    # next to `mimetype` (container-00): the newer name wins.
    "24-vcon-lib-extensions-lawful-basis-wtf.json": Accepted(
        [("dialog[0].encoding", "base64")], "0.3.0"
    ),
    # must_support ["encryption"]: no extension is supported.
    "25-vcon-lib-must-support-0.3.0-fields.json": Refused([("must_support[0]", '"encryption"')]),
    # The published negative examples.
    "90-invalid-conserver-bad-party-ref.json": Refused(
        [("dialog[0].parties[1]", "party index 99 out of range (2 parties)")]
    ),
    "91-invalid-conserver-bad-duration.json": Refused([("dialog[0].duration", "negative")]),
    # A missing `vcon` is fine (core-01+ omit it); the missing uuid is not.
    "92-invalid-conserver-missing-uuid-and-version.json": Refused([("uuid", "missing")]),
    "93-invalid-conserver-bad-dialog-types.json": Refused(
        [
            ("parties", "empty"),
            ("dialog[0].parties[0]", "party index 1 out of range (0 parties)"),
            ("dialog[0].parties[1]", "party index 0 out of range (0 parties)"),
            ("dialog[0].duration", "must be a number"),
            ("dialog[0].mimetype", "must be a string"),
        ]
    ),
}

# With assign_uuid: a missing uuid is added, so what else the file has decides.
ASSIGN_UUID: dict[str, Expectation] = {
    "17-vcon-mcp-siprec-v0.3.0-no-uuid.json": Accepted([], "0.3.0"),
    "23-py-vcon-pre-0.0.1-shape.json": Refused([("dialog[0].start", "ISO 8601")]),
    # The negative example's only fault under this policy was the uuid.
    "92-invalid-conserver-missing-uuid-and-version.json": Accepted([], "0.0.1"),
}


def corpus_files() -> list[Path]:
    """Every vCon file of the corpus, in name order."""
    return sorted(CORPUS_DIR.glob("*.json"))


def expectation(name: str, *, assign_uuid: bool = False) -> Expectation:
    """The expected outcome for corpus file `name` under the default policy."""
    if assign_uuid and name in ASSIGN_UUID:
        return ASSIGN_UUID[name]
    return EXPECTATIONS[name]


def read_corpus_text(path: Path) -> str:
    """A corpus file's exact text (newline="" keeps line endings as published)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()
