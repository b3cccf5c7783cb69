"""Redaction lineage under contract, on every backend: a redacted vCon
names its parent; the parent lists its live derivatives, newest first, per
organisation; a `redact` entry is in both histories."""

from __future__ import annotations

import pytest

from vconstore.domain.errors import VconNotFound
from vconstore.ports import Cursor, Lineage, VconRepository

from .records import ORG, OTHER_ORG, at, make_record
from .test_repository_scitt import make_entry


async def test_a_child_names_its_parent_and_the_parent_lists_it(repo: VconRepository) -> None:
    parent = make_record()
    await repo.insert(record=parent)
    children = [
        make_record(created_at=at(s), lineage=Lineage(parent.uuid, "pii-default"))
        for s in (10, 30, 20)
    ]
    for child in children:
        await repo.insert(record=child)
    assert await repo.lineage_of(org=ORG, uuid=parent.uuid) is None
    assert await repo.lineage_of(org=ORG, uuid=children[0].uuid) == Lineage(
        parent.uuid, "pii-default"
    )
    newest_first = [children[1].uuid, children[2].uuid, children[0].uuid]
    page = await repo.list_derivatives(org=ORG, uuid=parent.uuid, after=None, limit=2)
    assert [item.uuid for item in page.items] == newest_first[:2] and page.has_more
    last = page.items[-1]
    rest = await repo.list_derivatives(
        org=ORG, uuid=parent.uuid, after=Cursor(last.created_at, last.uuid), limit=2
    )
    assert [item.uuid for item in rest.items] == newest_first[2:] and not rest.has_more


async def test_derivatives_are_per_organisation_and_only_live(repo: VconRepository) -> None:
    parent = make_record()
    await repo.insert(record=parent)
    mine = make_record(lineage=Lineage(parent.uuid, "pii-default"))
    theirs = make_record(org=OTHER_ORG, lineage=Lineage(parent.uuid, "pii-default"))
    await repo.insert(record=mine)
    await repo.insert(record=theirs)
    page = await repo.list_derivatives(org=ORG, uuid=parent.uuid, after=None, limit=10)
    assert [item.uuid for item in page.items] == [mine.uuid]
    await repo.delete(org=ORG, uuid=mine.uuid)
    page = await repo.list_derivatives(org=ORG, uuid=parent.uuid, after=None, limit=10)
    assert page.items == []
    with pytest.raises(VconNotFound):
        await repo.lineage_of(org=ORG, uuid=mine.uuid)
    with pytest.raises(VconNotFound):
        await repo.lineage_of(org=ORG, uuid=theirs.uuid)


async def test_a_redact_entry_is_in_the_parent_history_too(repo: VconRepository) -> None:
    parent = make_record()
    register = make_entry()
    await repo.insert(record=parent, scitt=register)
    child = make_record(lineage=Lineage(parent.uuid, "pii-default"))
    redact = make_entry("redact", seconds=5)
    await repo.insert(record=child, scitt=redact)
    for uuid, expected in ((parent.uuid, [register, redact]), (child.uuid, [redact])):
        page = await repo.list_scitt(org=ORG, uuid=uuid, after=None, limit=10)
        assert [e.entry_id for e in page.entries] == [e.entry_id for e in expected]
    # An uploaded vCon naming a parent (a register entry) stays in its own history.
    uploaded = make_record(lineage=Lineage(parent.uuid, "manual"))
    await repo.insert(record=uploaded, scitt=make_entry(seconds=9))
    page = await repo.list_scitt(org=ORG, uuid=parent.uuid, after=None, limit=10)
    assert len(page.entries) == 2


async def test_the_parent_keeps_its_own_create_entry(repo: VconRepository) -> None:
    """The redactions' copies in its history do not replace the entry of the
    create that stored it; a redaction's own entry is its `redact`."""
    parent = make_record()
    register = make_entry()
    await repo.insert(record=parent, scitt=register)
    child = make_record(lineage=Lineage(parent.uuid, "pii-default"))
    redact = make_entry("redact", seconds=5)
    await repo.insert(record=child, scitt=redact)
    grandchild = make_record(lineage=Lineage(child.uuid, "pii-strict"))
    await repo.insert(record=grandchild, scitt=make_entry("redact", seconds=9))
    assert (await repo.get(org=ORG, uuid=parent.uuid)).scitt == register
    assert (await repo.get(org=ORG, uuid=child.uuid)).scitt == redact
    existing = await repo.insert(record=parent, scitt=make_entry(seconds=20))
    assert existing is not None and existing.scitt == register
