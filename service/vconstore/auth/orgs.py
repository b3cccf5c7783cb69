"""Organisation names: what `vconstore admin create-key --org` accepts."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DEV_ORG", "ORG_PATTERN", "check_org"]

# The organisation `vconstore up` gives its development key, and the one every
# vCon stored before API keys existed belongs to.
DEV_ORG: Final = "dev"
ORG_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_org(name: str) -> str:
    """The name, or ValueError saying what an organisation name may be."""
    if ORG_PATTERN.fullmatch(name) is None:
        raise ValueError(
            f"invalid organisation {name!r}: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
