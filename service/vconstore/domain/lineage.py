"""Which vCon a vCon was redacted from: its `redacted` object (the draft's
name) or `redacted_from` (the newer schema's), whichever names a uuid."""

from __future__ import annotations

from collections.abc import Mapping

from vconstore.domain.uuids import canonical_uuid, is_uuid
from vconstore.ports import Lineage

__all__ = ["document_lineage"]


def document_lineage(document: Mapping[str, object]) -> Lineage | None:
    for member in ("redacted_from", "redacted"):
        reference = document.get(member)
        if not isinstance(reference, Mapping):
            continue
        uuid = reference.get("uuid")
        if isinstance(uuid, str) and is_uuid(uuid):
            kind = reference.get("type")
            return Lineage(
                parent_uuid=canonical_uuid(uuid), type=kind if isinstance(kind, str) else ""
            )
    return None
