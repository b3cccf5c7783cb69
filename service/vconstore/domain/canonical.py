"""RFC 8785 (JCS) canonical JSON and the content hash built on it.

`rfc8785` is the reference implementation but costs ~140 µs for a 5 KB vCon.
orjson with sorted keys writes the very same bytes for almost every vCon in
~3 µs; the few shapes where it differs are recognised on its output and sent
to the reference (see _bytes_agree). Property tests compare the two over
arbitrary JSON (tests/unit/test_canonical.py).
"""

from __future__ import annotations

import hashlib
import math
import re

import orjson
import rfc8785


def canonical_json(value: object, *, from_ijson: bool = False) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, ...).

    `from_ijson=True` promises the value came from an I-JSON parse (integers
    within ±(2^53-1), finite floats, string keys), which skips the walk that
    checks those.
    """
    if from_ijson or _plain_json(value):
        try:
            encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            encoded = None  # not JSON: the reference implementation raises the error
        if encoded is not None and _bytes_agree(encoded):
            return encoded
    return rfc8785.dumps(value)  # type: ignore[arg-type]


def content_hash(value: object, *, from_ijson: bool = False) -> str:
    """ "sha256:" + lowercase hex SHA-256 of the canonical form."""
    return "sha256:" + hashlib.sha256(canonical_json(value, from_ijson=from_ijson)).hexdigest()


# orjson (sorted keys, compact, UTF-8, JCS's string escapes) writes the very
# bytes of RFC 8785 but for three things, checked on its output with
# literal-led patterns the regex engine scans at C speed (measured: orjson
# plus the checks ~5 µs for a 4 KB vCon, the stdlib encoder ~30, rfc8785 ~140):
#
# * an integral float keeps ".0" ("1.0", "-0.0"; JCS: "1", "0");
# * 1e16 <= |f| < 1e21 gets an exponent ("1e+16"; JCS: plain digits); any
#   exponent in a number sends the value to the reference, to be safe;
# * keys sort by UTF-8 bytes, JCS by UTF-16 code units: the two differ only
#   once a key has a character above U+FFFF.
#
# Each pattern may also match inside a string value (a chat line "...v1.0,"
# or "ratio:3e5"); such a false positive only costs the slower reference
# implementation.
_INTEGRAL_FLOAT = re.compile(rb"\.0(?=[,\]}]|$)")
# Exponents: a class-led pattern such as [eE]\d makes the regex engine test
# every byte (~33 µs for 4 KB), so the text is first mapped, at C speed, onto
# a few symbols: where a value may start (":,[" -> ":"), digits ("0"),
# e/E ("e"), signs ("-"), "." (itself), anything else ("x"). A number with an
# exponent is then ":" -?0+(.0+)?e, found by a literal-led pattern. The start
# of the text counts as a value start too.
_NUMBER_SHAPES = bytes(
    ord(":")
    if byte in b":,["
    else ord("0")
    if byte in b"0123456789"
    else ord("e")
    if byte in b"eE"
    else ord("-")
    if byte in b"-+"
    else ord(".")
    if byte == ord(".")
    else ord("x")
    for byte in range(256)
)
_EXPONENT_NUMBER = re.compile(rb":-?0+(?:\.0+)?e")
# A key (a string followed by ':') holding a character above U+FFFF (its UTF-8
# lead byte is F0-F4).
_ASTRAL_KEY = re.compile(rb'[\xf0-\xf4][^"\\]*(?:\\.[^"\\]*)*":')
_MAX_SAFE_INTEGER = 2**53 - 1


def _bytes_agree(encoded: bytes) -> bool:
    """True when orjson's sorted encoding is byte-identical to JCS."""
    if _INTEGRAL_FLOAT.search(encoded):
        return False
    shapes = encoded.translate(_NUMBER_SHAPES)
    # "0e" (a digit, then e/E) is rare outside numbers and found by memmem.
    if b"0e" in shapes and _EXPONENT_NUMBER.search(b":" + shapes):
        return False
    return encoded.isascii() or _ASTRAL_KEY.search(encoded) is None


def _plain_json(value: object) -> bool:
    """Integers within ±(2^53-1), finite floats (orjson writes NaN as null) and
    string keys: what I-JSON promises and orjson needs to match JCS."""
    stack: list[object] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(key, str) for key in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                return False
        elif (
            isinstance(node, int)
            and not isinstance(node, bool)
            and not -_MAX_SAFE_INTEGER <= node <= _MAX_SAFE_INTEGER
        ):
            return False
    return True
