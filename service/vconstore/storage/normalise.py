"""How every storage backend derives the values it indexes, so that they agree.

The contract suite runs the same queries against each backend; any
backend-specific folding or key extraction would show up there as a
difference in results. The definitions live in the domain (the filters are
normalised with the very same functions); this module is the storage side's
one import point.
"""

from __future__ import annotations

from vconstore.domain.instants import from_micros, to_micros, utc
from vconstore.domain.search_keys import fold, tag_key

__all__ = ["fold", "from_micros", "tag_key", "to_micros", "utc"]
