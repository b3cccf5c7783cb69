"""JSON paths as written in violations: `dialog[0].parties[1]`, `""` for the root.

One place builds them so every message names locations the same way.
"""

from __future__ import annotations

import json
import re

# Member names that read unambiguously after a dot; anything else (spaces, dots,
# brackets, the empty name) is written as a quoted JSON string in brackets.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")


def member(path: str, name: str) -> str:
    """The path of member `name` of the object at `path`."""
    if _PLAIN_NAME.match(name):
        return f"{path}.{name}" if path else name
    # Escape to ASCII only when the name is not valid Unicode text (a lone
    # surrogate), so the path can always be encoded as UTF-8.
    ascii_only = _SURROGATE.search(name) is not None
    return f"{path}[{json.dumps(name, ensure_ascii=ascii_only)}]"


def index(path: str, i: int) -> str:
    """The path of element `i` of the array at `path`."""
    return f"{path}[{i}]"


def prefixed(prefix: str, path: str) -> str:
    """`path` (relative to a nested document) seen from the outside, under `prefix`."""
    if not prefix or not path:
        return prefix or path
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"
