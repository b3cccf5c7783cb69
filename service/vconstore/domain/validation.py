"""The validation policy: what vCon text is stored, with which warnings, and what is refused.

Order of the checks, cheapest refusal first:

1. size (LimitExceeded max_vcon_bytes) before anything is parsed;
2. strict I-JSON parsing with the depth and array-length limits (ijson);
3. the form: a JWE is refused (its content cannot be validated), a JWS has
   every signature verified and its payload validated in its place (paths
   inside it are reported as `payload.<path>`);
4. the member rules (vcon_rules), all of them, so one refusal lists every
   violation (at most 100 listed, with the total count).

The accepted text is stored exactly as sent; the one change ever made is
the uuid that `assign_uuid` inserts as the first member of an unsigned vCon
that has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import uuid6
from cryptography import x509

from vconstore.domain import jsonpath
from vconstore.domain.errors import LimitExceeded, VconInvalid, Violation
from vconstore.domain.ijson import REASON_NOT_JSON, parse_ijson
from vconstore.domain.jws import detect_form, encrypted_refusal, verify_jws
from vconstore.domain.timestamps import parse_timestamp
from vconstore.domain.vcon_rules import check_vcon
from vconstore.domain.versions import detect_version

__all__ = [
    "MAX_LISTED_VIOLATIONS",
    "ValidatedVcon",
    "ValidationPolicy",
    "parse_timestamp",
    "validate_vcon_document",
    "validate_vcon_text",
]

MAX_LISTED_VIOLATIONS: Final = 100
# A JWS may carry a JWS (the draft's long-term archiving re-signs the signed
# form); deeper nesting than this is refused rather than unwrapped.
_MAX_SIGNED_NESTING: Final = 4
_UTF8_MAX_BYTES_PER_CHAR: Final = 4


@dataclass(frozen=True)
class ValidationPolicy:
    strict: bool = False
    # Extension names this server implements: allowed in critical / must_support.
    supported_extensions: frozenset[str] = frozenset()
    max_vcon_bytes: int = 32 * 1024 * 1024  # UTF-8 size of the text
    max_array_length: int = 100_000
    max_depth: int = 64
    # When not empty, every JWS signature's x5c chain must lead to one of these.
    trust_anchors: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class ValidatedVcon:
    text: str  # the text to store: exactly the input, except with an assigned uuid inserted
    document: dict[str, Any]  # the unsigned vCon object (the parsed JWS payload when signed)
    uuid: str  # as written in the document
    signed: bool
    detected_version: str
    warnings: tuple[Violation, ...]  # empty in strict mode (they became violations)
    assigned_uuid: bool


def validate_vcon_text(
    text: str, policy: ValidationPolicy, *, assign_uuid: bool = False
) -> ValidatedVcon:
    """Validate a vCon sent as JSON text; raise VconInvalid / LimitExceeded to refuse it."""
    _check_size(text, policy.max_vcon_bytes)
    value = _parse(text, policy, prefix="")
    form = detect_form(value)
    if form == "encrypted":
        raise encrypted_refusal(value)
    if form == "signed":
        return _validate_signed(text, value, policy)
    return _validate_unsigned(text, value, policy, assign_uuid)


def validate_vcon_document(
    doc: object, policy: ValidationPolicy, *, assign_uuid: bool = False
) -> ValidatedVcon:
    """Validate a vCon that arrived as a typed message and was converted to a dict.

    It is serialised compactly (the text that will be stored) and validated
    as that text, so the I-JSON rules and limits apply to it the same way.
    """
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise LimitExceeded(
            Violation("", f"nesting deeper than {policy.max_depth} levels (limit max_depth)"),
            limit_name="max_depth",
            limit=policy.max_depth,
        ) from None
    except (TypeError, ValueError) as exc:
        raise VconInvalid(
            [Violation("", f"not representable as JSON: {exc}")], reason=REASON_NOT_JSON
        ) from None
    return validate_vcon_text(text, policy, assign_uuid=assign_uuid)


# --- steps -----------------------------------------------------------------------


def _check_size(text: str, max_bytes: int) -> None:
    if len(text) * _UTF8_MAX_BYTES_PER_CHAR <= max_bytes:
        return  # cannot be over, whatever the characters
    if len(text) > max_bytes:
        size = f"more than {max_bytes}"
    else:
        # surrogatepass: a lone surrogate is the parser's to refuse, not a crash here.
        encoded = len(text.encode("utf-8", "surrogatepass"))
        if encoded <= max_bytes:
            return
        size = str(encoded)
    raise LimitExceeded(
        Violation("", f"the vCon is {size} bytes of UTF-8 (limit max_vcon_bytes {max_bytes})"),
        limit_name="max_vcon_bytes",
        limit=max_bytes,
    )


def _parse(text: str, policy: ValidationPolicy, *, prefix: str) -> dict[str, Any]:
    """The text as a JSON object; paths in refusals are put under `prefix`."""
    try:
        value = parse_ijson(
            text, max_depth=policy.max_depth, max_array_length=policy.max_array_length
        )
    except LimitExceeded as exc:
        if not prefix:
            raise
        raise LimitExceeded(
            _prefixed(prefix, exc.violations)[0], limit_name=exc.limit_name, limit=exc.limit
        ) from None
    except VconInvalid as exc:
        if not prefix:
            raise
        raise VconInvalid(
            _prefixed(prefix, exc.violations), reason=exc.reason, total=exc.total
        ) from None
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else "a JSON scalar"
        raise VconInvalid(
            [Violation(prefix, f"a vCon must be a JSON object, not {kind}")],
            reason="VCON_NOT_OBJECT",
        )
    return value


def _validate_unsigned(
    text: str, doc: dict[str, Any], policy: ValidationPolicy, assign_uuid: bool
) -> ValidatedVcon:
    violations, warnings = check_vcon(
        doc, supported_extensions=policy.supported_extensions, uuid_may_be_missing=assign_uuid
    )
    settled = _settle(violations, warnings, policy)
    assigned = "uuid" not in doc
    if assigned:
        uuid = str(uuid6.uuid7())
        text = _insert_uuid(text, uuid)
        doc = {"uuid": uuid, **doc}
    return ValidatedVcon(
        text=text,
        document=doc,
        uuid=doc["uuid"],
        signed=False,
        detected_version=detect_version(doc),
        warnings=settled,
        assigned_uuid=assigned,
    )


def _validate_signed(text: str, jws: dict[str, Any], policy: ValidationPolicy) -> ValidatedVcon:
    prefix = ""
    header_uuids: list[tuple[str, str]] = []
    doc = jws
    for _ in range(_MAX_SIGNED_NESTING):
        try:
            verified = verify_jws(
                doc, max_payload_bytes=policy.max_vcon_bytes, trust_anchors=policy.trust_anchors
            )
        except VconInvalid as exc:
            if not prefix:
                raise
            raise VconInvalid(
                _prefixed(prefix, exc.violations), reason=exc.reason, total=exc.total
            ) from None
        header_uuids += [(jsonpath.prefixed(prefix, p), u) for p, u in verified.header_uuids]
        prefix = jsonpath.prefixed(prefix, "payload")
        doc = _parse(verified.text, policy, prefix=prefix)
        form = detect_form(doc)
        if form == "encrypted":
            refusal = encrypted_refusal(doc)
            raise VconInvalid(
                _prefixed(prefix, refusal.violations), reason=refusal.reason, total=refusal.total
            )
        if form == "unsigned":
            break
    else:
        raise VconInvalid(
            [Violation(prefix, f"signed vCons nested more than {_MAX_SIGNED_NESTING} deep")],
            reason="VCON_SIGNATURE_INVALID",
        )
    violations, warnings = check_vcon(
        doc, supported_extensions=policy.supported_extensions, uuid_may_be_missing=True
    )
    refused = _prefixed(prefix, violations)
    uuid = doc.get("uuid")
    if "uuid" not in doc:
        refused.append(
            Violation(
                jsonpath.prefixed(prefix, "uuid"),
                "uuid missing (a signed vCon cannot be given one without breaking its signature)",
            )
        )
    elif isinstance(uuid, str):
        # The header copy lets readers index a JWS without verifying it; it must not lie.
        refused += [
            Violation(path, f'header uuid "{header}" does not match the payload uuid "{uuid}"')
            for path, header in header_uuids
            if header.lower() != uuid.lower()
        ]
    settled = _settle(refused, _prefixed(prefix, warnings), policy)
    return ValidatedVcon(
        text=text,
        document=doc,
        uuid=doc["uuid"],
        signed=True,
        detected_version=detect_version(doc),
        warnings=settled,
        assigned_uuid=False,
    )


def _settle(
    violations: list[Violation], warnings: list[Violation], policy: ValidationPolicy
) -> tuple[Violation, ...]:
    """Raise if anything is refused (warnings count in strict mode); else the warnings."""
    if policy.strict:
        violations = violations + warnings
        warnings = []
    if violations:
        # The first 100 are listed; the true count travels with them.
        raise VconInvalid(violations[:MAX_LISTED_VIOLATIONS], total=len(violations))
    return tuple(warnings)


def _prefixed(prefix: str, violations: list[Violation]) -> list[Violation]:
    return [Violation(jsonpath.prefixed(prefix, v.path), v.message) for v in violations]


def _insert_uuid(text: str, uuid: str) -> str:
    """`text` with `"uuid":"<uuid>"` as the first member; every other byte unchanged."""
    start = text.index("{") + 1  # the value is an object: its first non-blank is "{"
    empty = text[start:].lstrip(" \t\r\n").startswith("}")
    return f'{text[:start]}"uuid":"{uuid}"{"" if empty else ","}{text[start:]}'
