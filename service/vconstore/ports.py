"""The storage port: what the service needs from a vCon store.

Adapters (storage/sqlite, storage/memory, later MongoDB) implement
`VconRepository` and pass the same contract suite (tests/contract).
Every method is keyword-only and takes the organisation: there is no query
that is not scoped to one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ScittEntry:
    """One operation on a vCon as signed for the transparency ledger.

    Stored in the same atomic write as the operation itself (the outbox), so an
    acknowledged operation always has its statement; `receipt` is None until
    the ledger registers it. Holds no vCon content.
    """

    # "sha256:" + hex leaf hash of `statement`: the ledger's id for it.
    entry_id: str
    # register, amend, redact or delete.
    operation: str
    # The COSE_Sign1 statement, exactly the bytes sent to the ledger (so a
    # retry is the same registration, never a second one).
    statement: bytes
    # The statement's issued_at, UTC.
    created_at: datetime
    receipt: bytes | None = None


def create_entry_of(entries: Sequence[ScittEntry]) -> ScittEntry | None:
    """Of a live vCon's history (oldest first), the entry of the create that
    stored it: the newest entry that is not a `redact` (the parent's copies
    of its redactions' entries), or, for a vCon that redaction made and that
    has no other, its first `redact` (its own). None when that is a deletion
    (created again without a ledger) or there is none."""
    for entry in reversed(entries):
        if entry.operation != "redact":
            return None if entry.operation == "delete" else entry
    return entries[0] if entries else None


@dataclass(frozen=True, slots=True)
class PendingRegistration:
    """A stored entry still without its receipt, and where it lives."""

    org: str
    uuid: str
    entry: ScittEntry
    # Other vCons of the organisation holding the same entry (a redaction's
    # parent): its receipt is stored for them too.
    also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt to store against (org, uuid, entry_id)."""

    org: str
    uuid: str
    entry_id: str
    receipt: bytes


@dataclass(frozen=True, slots=True)
class ScittPage:
    entries: list[ScittEntry] = field(default_factory=list)
    has_more: bool = False


# The statement of a deletion covers the erased content's hash, which only the
# write itself reads (atomically with the erasure): the repository calls this
# with that hash.
DeletionEntry = Callable[[str], ScittEntry]


@dataclass(frozen=True, slots=True)
class VconRecord:
    """One vCon as stored: the accepted text plus the fields queries need.

    `vcon_json` is byte-for-byte what was accepted (the JWS for a signed vCon)
    and is served as is, never re-serialised. `typed_pb` and `parties_pb` are
    serialised `vcon.v1.Vcon` messages (the whole document, and one holding
    only `parties`) computed once at create time so reads never re-parse JSON;
    storage treats them as opaque bytes.
    """

    org: str
    # Lower-case canonical form: the key. The document keeps the case it was sent in.
    uuid: str
    vcon_json: str
    typed_pb: bytes
    parties_pb: bytes
    # "sha256:" + hex SHA-256 of the RFC 8785 canonical form of the stored document.
    content_hash: str
    # The ordering instant: the vCon's created_at in UTC, else the time received.
    created_at: datetime
    received_at: datetime
    detected_version: str
    signed: bool
    subject: str | None = None
    # Derived, normalised search keys (see domain/search_keys.py).
    party_tels: tuple[str, ...] = ()
    party_mailtos: tuple[str, ...] = ()
    party_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # A redaction's parent (its `redacted` / `redacted_from` uuid, lower case)
    # and the redaction's type, for lineage; None for other vCons.
    lineage: Lineage | None = None


@dataclass(frozen=True, slots=True)
class Lineage:
    parent_uuid: str
    type: str


@dataclass(frozen=True, slots=True)
class ExistingVcon:
    """What insert() reports when the uuid is already stored in the organisation."""

    uuid: str
    content_hash: str
    created_at: datetime
    detected_version: str
    # The ledger entry of the create that stored it (None: stored without one).
    scitt: ScittEntry | None = None


@dataclass(frozen=True, slots=True)
class StoredVcon:
    """What get() returns."""

    uuid: str
    vcon_json: str
    typed_pb: bytes
    signed: bool
    created_at: datetime
    detected_version: str
    # The ledger entry of the create that stored it (None: stored without one).
    scitt: ScittEntry | None = None


@dataclass(frozen=True, slots=True)
class VconListItem:
    uuid: str
    created_at: datetime
    subject: str | None
    detected_version: str
    parties_pb: bytes
    signed: bool


@dataclass(frozen=True, slots=True)
class VconFilter:
    """List filters, already normalised (see domain/search_keys.py); None = no filter.

    created_after is inclusive, created_before exclusive. party_tel, party_mailto
    and tag match a stored key exactly; tag_key matches any tag with that key;
    party_name and subject_contains are case-folded substrings.
    """

    created_after: datetime | None = None
    created_before: datetime | None = None
    party_tel: str | None = None
    party_mailto: str | None = None
    party_name: str | None = None
    subject_contains: str | None = None
    tag: str | None = None
    tag_key: str | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position: list strictly after (older than) this (created_at, uuid)."""

    created_at: datetime
    uuid: str


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[VconListItem] = field(default_factory=list)
    # Whether more items follow the last one returned.
    has_more: bool = False
    # Every match of the filter, ignoring the cursor.
    total: int = 0


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its SHA-256."""

    # "key_" + 24 hex characters: what ListApiKeys shows and RevokeApiKey takes.
    id: str
    org: str
    name: str
    # The key's first 16 characters, shown so a person can tell keys apart.
    prefix: str
    key_hash: bytes
    # In auth.scopes.ALL_SCOPES order.
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyPage:
    items: list[ApiKeyRecord] = field(default_factory=list)
    has_more: bool = False


class ApiKeyRepository(Protocol):
    """The organisations' API keys. Same adapters, same storage as the vCons."""

    async def create_api_key(self, *, record: ApiKeyRecord) -> None:
        """Store durably. ValueError if the id or the key's hash is taken."""

    async def find_api_keys(self, *, prefix: str) -> Sequence[ApiKeyRecord]:
        """Every key (of any organisation, revoked or not) with this prefix."""

    async def list_api_keys(self, *, org: str, after: Cursor | None, limit: int) -> ApiKeyPage:
        """Oldest first by (created_at, id), strictly after `after` (whose
        `uuid` holds the key id)."""

    async def revoke_api_key(self, *, org: str, key_id: str, at: datetime) -> ApiKeyRecord:
        """Mark revoked at `at` (kept if already revoked) and return the key.
        ApiKeyNotFound if the organisation has no such key."""

    async def touch_api_keys(self, *, used: Sequence[tuple[str, datetime]]) -> None:
        """Record (key id, when) uses; last_used_at only moves forward."""


class VconRepository(Protocol):
    """The vCon store. Adapters raise vconstore.domain.errors on failure:
    VconNotFound for a missing uuid, StorageUnavailable when the backend is down."""

    async def open(self) -> None:
        """Connect, create or migrate the schema. Idempotent."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if storage answers; raise StorageUnavailable otherwise."""

    async def insert(
        self, *, record: VconRecord, scitt: ScittEntry | None = None
    ) -> ExistingVcon | None:
        """Store the record, and its ledger entry in the same atomic write,
        durably; return None once committed to disk. A `redact` entry of a
        record with lineage is also added to the parent's entries (atomically
        where the backend can; MongoDB: right after).

        If (org, uuid) already exists nothing is written and the existing
        vCon is described instead, so the caller can decide between an
        idempotent retry and ALREADY_EXISTS.
        """

    async def get(self, *, org: str, uuid: str) -> StoredVcon:
        """Raise VconNotFound if absent."""

    async def exists(self, *, org: str, uuid: str) -> bool:
        """Whether the organisation holds a (live) vCon with this uuid."""

    async def delete(
        self, *, org: str, uuid: str, scitt: DeletionEntry | None = None
    ) -> ScittEntry | None:
        """Erase physically; with `scitt`, store the entry it makes from the
        erased content's hash in the same atomic write, and return it.
        Raise VconNotFound if absent."""

    async def list_scitt(self, *, org: str, uuid: str, after: int | None, limit: int) -> ScittPage:
        """The uuid's entries oldest first, from position `after` + 1 (0-based
        positions in that order). VconNotFound if the uuid has none."""

    async def pending_registrations(self, *, limit: int) -> list[PendingRegistration]:
        """Entries without a receipt, oldest first, at most `limit`."""

    async def count_pending(self) -> int: ...

    async def store_receipts(self, *, receipts: Sequence[Receipt]) -> None:
        """Attach receipts to their entries (idempotent; unknown ones are skipped)."""

    async def list(
        self, *, org: str, filter: VconFilter, after: Cursor | None, limit: int
    ) -> ListPage:
        """Newest first by (created_at, uuid) descending, at most `limit` items."""

    async def list_derivatives(
        self, *, org: str, uuid: str, after: Cursor | None, limit: int
    ) -> ListPage:
        """The live vCons whose lineage names `uuid`, newest first (total: 0)."""

    async def lineage_of(self, *, org: str, uuid: str) -> Lineage | None:
        """The live vCon's lineage; VconNotFound if it does not exist."""


class Storage(VconRepository, ApiKeyRepository, Protocol):
    """What one storage backend provides: the vCons and the API keys, in the
    same database, opened and closed together."""
