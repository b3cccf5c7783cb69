"""Strict I-JSON (RFC 7493) parsing: the only way vCon text becomes Python values.

The stdlib C decoder does the work; hooks refuse what I-JSON forbids and it
allows: duplicate member names, NaN/Infinity literals, numbers that overflow a
double, integers outside ±(2^53-1). Lone surrogates (`"\\ud800"`) are looked
for only when the text holds a surrogate escape at all, so the common case
pays nothing for them.

The hooks cannot know where in the document they are, so the fast pass only
notices *that* something is wrong; a second, slower pass (taken only for text
about to be refused) finds every offence and its JSON path.

Nesting is bounded twice: the C decoder stops at the interpreter's recursion
limit (so a million `[` raise RecursionError after ~1000 levels instead of
exhausting the stack), and the decoded value is then held to `max_depth`.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, Final

import orjson

from vconstore.domain import jsonpath
from vconstore.domain.errors import LimitExceeded, VconInvalid, Violation

MAX_SAFE_INTEGER: Final = 2**53 - 1
REASON_NOT_JSON: Final = "VCON_NOT_JSON"
REASON_NOT_IJSON: Final = "VCON_NOT_IJSON"

# A JSON integer token longer than this ("-" plus 16 digits) cannot be within
# ±(2^53-1); checking the length first also keeps int() clear of its
# 4300-digit guard, which would raise a bare ValueError from inside the decoder.
_MAX_SAFE_INT_CHARS: Final = 17
# Shorter tokens are always in range (2^53-1 has 16 digits).
_ALWAYS_SAFE_INT_CHARS: Final = 15

# A \uD800-\uDFFF escape, high or low. Only text matching this can decode to a
# lone surrogate (raw surrogates cannot be in text that came from UTF-8 bytes,
# and are checked separately for text that did not).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

# The decoder recurses in C up to the interpreter's recursion limit; above this
# limit a deep enough document could exhaust the C stack first, so the depth is
# then measured on the text before decoding (costlier, hence not done by default).
_SAFE_RECURSION_LIMIT: Final = 4000
_STRING_TOKEN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")


class _NotIJson(Exception):
    """Raised by a fast-path hook: the diagnostic pass will say what and where."""


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _NotIJson
    return obj


def _strict_int(token: str) -> int:
    if len(token) <= _ALWAYS_SAFE_INT_CHARS:
        return int(token)
    if len(token) <= _MAX_SAFE_INT_CHARS:
        value = int(token)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
    raise _NotIJson


def _strict_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _NotIJson
    return value


def _refuse_constant(token: str) -> Any:
    raise _NotIJson


_FAST_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_strict_pairs,
    parse_int=_strict_int,
    parse_float=_strict_float,
    parse_constant=_refuse_constant,
)


def parse_ijson(text: str, *, max_depth: int, max_array_length: int | None = None) -> object:
    """Decode `text` as I-JSON, or raise.

    Raises VconInvalid (reason VCON_NOT_JSON: syntax; VCON_NOT_IJSON: valid
    JSON that I-JSON forbids) listing every offence found, and LimitExceeded
    (limit_name "max_depth" or "max_array_length") for nesting deeper than
    `max_depth` containers or an array longer than `max_array_length`.
    """
    if text.startswith("\ufeff"):
        # RFC 8259 §8.1: a JSON text must not begin with a byte order mark.
        raise VconInvalid(
            [Violation("", "the text begins with a byte order mark (U+FEFF); remove it")],
            reason=REASON_NOT_JSON,
        )
    value = _fast_parse(text, max_depth, max_array_length)
    if value is not _UNSURE:
        return value
    _refuse_raw_surrogates(text)
    if sys.getrecursionlimit() > _SAFE_RECURSION_LIMIT:
        _precheck_depth(text, max_depth)
    try:
        value = _FAST_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _not_json(exc) from None
    except RecursionError:
        raise _depth_exceeded("", max_depth) from None
    except _NotIJson:
        # The fast pass stopped at the first offence; the diagnostic pass reads
        # on, and may meet a syntax error or a too deep nesting after it.
        try:
            offences = _diagnose(text)
        except json.JSONDecodeError as exc:
            raise _not_json(exc) from None
        except RecursionError:
            raise _depth_exceeded("", max_depth) from None
        raise VconInvalid(offences, reason=REASON_NOT_IJSON) from None
    _check_limits(text, value, max_depth, max_array_length)
    if _SURROGATE_ESCAPE.search(text):
        offences = _offences(value)
        if offences:
            raise VconInvalid(offences, reason=REASON_NOT_IJSON)
    return value


# --- fast path: orjson, when it can decide alone --------------------------------

_UNSURE: Final = object()
# A key's closing quote with blanks before its colon; or an escaped quote,
# which could put `":` inside a string. Either makes counting keys unreliable.
_BLANK_BEFORE_COLON = re.compile(r'"\s+:')
# orjson turns an integer literal beyond 64 bits into a float: such a float
# may have been an integer I-JSON forbids; the strict pass decides.
_FLOAT_NEEDS_CHECK = 2.0**63


def _fast_parse(text: str, max_depth: int, max_array_length: int | None) -> object:
    """The decoded value, or _UNSURE: then the strict pass decodes and diagnoses.

    orjson (~10x the stdlib decoder with I-JSON hooks) refuses NaN/Infinity,
    overflowing numbers, lone surrogates, control characters and trailing
    garbage by itself, but keeps the last of duplicate member names. So the
    members are counted twice: in the text (each key ends `":` when no escaped
    quote and no blank before a colon occurs) and in the decoded objects; any
    difference (a duplicate) goes to the strict pass, as does everything out of
    range (integers beyond 2^53-1, limits), which then reports it precisely.
    """
    if '\\"' in text or _BLANK_BEFORE_COLON.search(text):
        return _UNSURE
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _UNSURE
    limit = max_array_length if max_array_length is not None else sys.maxsize
    members = _members_within_limits(value, max_depth, limit)
    if members != text.count('":'):
        return _UNSURE
    return value


def _members_within_limits(value: object, max_depth: int, max_array_length: int) -> int:
    """How many object members `value` holds, or -1 when anything is out of
    range (depth, array length, an integer beyond 2^53-1, a huge float)."""
    members = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            return -1
        children: Any
        if type(node) is dict:
            members += len(node)
            children = node.values()
        elif type(node) is list:
            if len(node) > max_array_length:
                return -1
            children = node
        else:
            children = (node,)  # a bare scalar document
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                push((child, depth + 1))
            elif kind is int:
                if not -MAX_SAFE_INTEGER <= child <= MAX_SAFE_INTEGER:
                    return -1
            elif kind is float and not -_FLOAT_NEEDS_CHECK < child < _FLOAT_NEEDS_CHECK:
                return -1
    return members


def _not_json(exc: json.JSONDecodeError) -> VconInvalid:
    return VconInvalid(
        [Violation("", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")],
        reason=REASON_NOT_JSON,
    )


def _refuse_raw_surrogates(text: str) -> None:
    if text.isascii():
        return
    match = _SURROGATE.search(text)
    if match is None:
        return
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    raise VconInvalid(
        [
            Violation(
                "",
                f"lone surrogate U+{ord(match.group()):04X} at line {line} column {column}"
                " (not Unicode text)",
            )
        ],
        reason=REASON_NOT_IJSON,
    )


def _depth_exceeded(path: str, max_depth: int) -> LimitExceeded:
    return LimitExceeded(
        Violation(path, f"nesting deeper than {max_depth} levels (limit max_depth)"),
        limit_name="max_depth",
        limit=max_depth,
    )


def _precheck_depth(text: str, max_depth: int) -> None:
    """Measure nesting on the text itself, without recursing: strings out, then peel pairs.

    Each round removes every innermost `[]`/`{}` pair, so the brackets of a
    document of depth d are gone after d rounds. What is left after
    `max_depth` rounds is either too deep or does not pair up (not JSON); a
    running count over the brackets tells which, and the decoder then reports
    a syntax error on text that is shallow enough to decode safely.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return
    brackets = _NOT_BRACKET.sub("", _STRING_TOKEN.sub("", text))
    remaining = brackets
    for _ in range(max_depth):
        if not remaining:
            return
        peeled = remaining.replace("[]", "").replace("{}", "")
        if peeled == remaining:
            break
        remaining = peeled
    if not remaining:
        return
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > max_depth:
            raise _depth_exceeded("", max_depth)


def _check_limits(text: str, value: object, max_depth: int, max_array_length: int | None) -> None:
    # A document cannot be deeper than its number of brackets, nor hold an
    # array longer than its number of commas + 1: most documents skip the walk.
    deep = text.count("[") + text.count("{") > max_depth
    long = max_array_length is not None and text.count(",") + 1 > max_array_length
    if not (deep or long):
        return
    limit = max_array_length if max_array_length is not None else sys.maxsize
    if _within_limits(value, max_depth, limit):
        return
    raise _locate_limit(value, max_depth, limit)


def _within_limits(value: object, max_depth: int, max_array_length: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            children: Any = node.values()
        elif type(node) is list:
            if len(node) > max_array_length:
                return False
            children = node
        else:
            continue
        if depth + 1 > max_depth:
            return False
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return True


def _locate_limit(value: object, max_depth: int, max_array_length: int) -> LimitExceeded:
    """The first offending container, breadth first, with its path (error path only)."""
    queue: list[tuple[object, int, str]] = [(value, 0, "")]
    for node, depth, path in queue:
        if type(node) is dict:
            items: list[tuple[str, object]] = [
                (jsonpath.member(path, k), v) for k, v in node.items()
            ]
        elif type(node) is list:
            if len(node) > max_array_length:
                return LimitExceeded(
                    Violation(
                        path,
                        f"array of {len(node)} elements is longer than {max_array_length}"
                        " (limit max_array_length)",
                    ),
                    limit_name="max_array_length",
                    limit=max_array_length,
                )
            items = [(jsonpath.index(path, i), v) for i, v in enumerate(node)]
        else:
            continue
        if depth + 1 > max_depth:
            return _depth_exceeded(path, max_depth)
        queue.extend((v, depth + 1, p) for p, v in items if isinstance(v, (dict, list)))
    return _depth_exceeded("", max_depth)  # unreachable when _within_limits said no


# --- diagnostic pass: only for text that is being refused -------------------


class _Offence:
    """Stands in the decoded tree where the fast pass would have refused a token."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _CheckedObject(dict[str, Any]):
    """A decoded object that remembers which member names it saw twice.

    The values a repeated name overwrote are kept in `shadowed` so that the
    offences inside them are reported too.
    """

    __slots__ = ("duplicates", "shadowed")

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.duplicates: list[str] = []
        self.shadowed: list[tuple[str, Any]] = []
        if len(self) != len(pairs):
            seen: set[str] = set()
            for name, _ in pairs:
                if name in seen and name not in self.duplicates:
                    self.duplicates.append(name)
                seen.add(name)
            last = {id(v) for v in self.values()}
            self.shadowed = [(n, v) for n, v in pairs if id(v) not in last]


def _abbreviate(token: str) -> str:
    return token if len(token) <= 40 else f"{token[:20]}…({len(token)} characters)"


def _diagnostic_int(token: str) -> int | _Offence:
    if len(token) <= _MAX_SAFE_INT_CHARS:
        value = int(token)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
    return _Offence(f"integer {_abbreviate(token)} is outside ±(2^53-1) (I-JSON, RFC 7493 §2.2)")


def _diagnostic_float(token: str) -> float | _Offence:
    value = float(token)
    if math.isinf(value):
        return _Offence(f"number {_abbreviate(token)} overflows a double (I-JSON, RFC 7493 §2.2)")
    return value


def _diagnostic_constant(token: str) -> _Offence:
    return _Offence(f"{token} is not a JSON number")


def _diagnose(text: str) -> list[Violation]:
    value = json.loads(
        text,
        object_pairs_hook=_CheckedObject,
        parse_int=_diagnostic_int,
        parse_float=_diagnostic_float,
        parse_constant=_diagnostic_constant,
    )
    offences = _offences(value)
    return offences or [Violation("", "not I-JSON")]


def _offences(value: object) -> list[Violation]:
    """Every I-JSON offence in a decoded tree, in document order, with its path."""
    found: list[Violation] = []
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for name in getattr(node, "duplicates", ()):
                found.append(
                    Violation(jsonpath.member(path, name), f'duplicate member name "{name}"')
                )
            children: list[tuple[object, str]] = []
            for name, child in [*getattr(node, "shadowed", ()), *node.items()]:
                child_path = jsonpath.member(path, name)
                if _SURROGATE.search(name):
                    found.append(Violation(child_path, "member name contains a lone surrogate"))
                children.append((child, child_path))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(
                (child, jsonpath.index(path, i)) for i, child in reversed(list(enumerate(node)))
            )
        elif isinstance(node, str):
            match = _SURROGATE.search(node)
            if match:
                found.append(
                    Violation(
                        path,
                        f"string contains a lone surrogate \\u{ord(match.group()):04x}"
                        " (not Unicode text)",
                    )
                )
        elif isinstance(node, _Offence):
            found.append(Violation(path, node.message))
    return found
