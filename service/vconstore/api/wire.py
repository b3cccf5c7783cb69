"""Domain values as the protobuf messages servicers answer with, and the
requests' shared parts as domain values."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from vconstore.application.vcon_store import ListRequest
from vconstore.domain.errors import InvalidRequest
from vconstore.ports import ScittEntry, VconListItem
from vconstore_proto.vcon.v1 import vcon_pb2, vcon_service_pb2

__all__ = ["list_request", "scitt_message", "summary_message", "timestamp_of"]


def timestamp_of(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def scitt_message(entry: ScittEntry) -> vcon_service_pb2.ScittEntry:
    return vcon_service_pb2.ScittEntry(
        entry_id=entry.entry_id,
        operation=entry.operation,
        signed=True,
        status=(
            vcon_service_pb2.ScittEntry.PENDING
            if entry.receipt is None
            else vcon_service_pb2.ScittEntry.REGISTERED
        ),
        receipt=entry.receipt or b"",
        created_at=timestamp_of(entry.created_at),
        signed_statement=entry.statement,
    )


def _instant(request: object, field: str) -> datetime | None:
    if not request.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(request, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            field, "not a timestamp between 0001-01-01 and 9999-12-31 (UTC)"
        ) from None


def summary_message(item: VconListItem) -> vcon_service_pb2.VconSummary:
    summary = vcon_service_pb2.VconSummary(
        uuid=item.uuid,
        created_at=timestamp_of(item.created_at),
        subject=item.subject or "",
        detected_version=item.detected_version,
        signed=item.signed,
    )
    summary.parties.extend(vcon_pb2.Vcon.FromString(item.parties_pb).parties)
    return summary


def list_request(request: vcon_service_pb2.ListVconsRequest) -> ListRequest:
    return ListRequest(
        page_size=request.page_size,
        page_token=request.page_token,
        created_after=_instant(request, "created_after"),
        created_before=_instant(request, "created_before"),
        party_tel=request.party_tel,
        party_mailto=request.party_mailto,
        party_name=request.party_name,
        subject_contains=request.subject_contains,
        tag=request.tag,
    )
