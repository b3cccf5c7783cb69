"""Building VconRecords for the contract tests."""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from vconstore.ports import VconRecord

ORG = "org-a"
OTHER_ORG = "org-b"
BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def at(seconds: float) -> datetime:
    """BASE_TIME plus some seconds: readable relative instants."""
    return BASE_TIME + timedelta(seconds=seconds)


def make_record(*, org: str = ORG, uuid: str | None = None, **changes: Any) -> VconRecord:
    """A small valid record; keyword arguments override any field."""
    uuid = uuid or new_uuid()
    record = VconRecord(
        org=org,
        uuid=uuid,
        vcon_json=json.dumps({"uuid": uuid, "vcon": "0.3.0", "parties": [{"name": "A"}]}),
        typed_pb=b"\x0a\x24" + uuid.encode(),
        parties_pb=b"\x12\x03\x0a\x01A",
        content_hash="sha256:" + "ab" * 32,
        created_at=BASE_TIME,
        received_at=BASE_TIME + timedelta(minutes=5),
        detected_version="0.3.0",
        signed=False,
    )
    return replace(record, **changes)
