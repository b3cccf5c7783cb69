"""Signed statements for the store's operations, in the format the ledger
registers (vconstore.ledger.statements): no content, only hashes, uuids and a
keyed pseudonym of the organisation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import OperationRecord, make_statement, org_pseudonym
from vconstore.ports import ScittEntry
from vconstore_client.transparency.merkle import entry_id_of, leaf_hash

__all__ = ["StatementIssuer"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StatementIssuer:
    """Signs operation statements as `name` (their CWT iss) with `key`.

    Args:
        key: the store's ES256 issuer key; the ledger must trust its public half
            under `name`.
        name: the issuer name.
        pseudonym_secret: HMAC key of the organisation pseudonyms. Every store
            replica writing to one ledger must share it, or one organisation
            would appear under several pseudonyms.
    """

    def __init__(
        self,
        key: SigningKey,
        *,
        name: str,
        pseudonym_secret: bytes,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._key = key
        self._name = name
        self._clock = clock
        secret = bytes(pseudonym_secret)
        # Organisations are few; the HMAC is per call otherwise.
        self._pseudonym = lru_cache(maxsize=4096)(lambda org: org_pseudonym(secret, org))

    @property
    def key(self) -> SigningKey:
        return self._key

    @property
    def name(self) -> str:
        return self._name

    def entry(
        self,
        operation: str,
        *,
        org: str,
        uuid: str,
        content_hash: str,
        parent_uuid: str | None = None,
    ) -> ScittEntry:
        """A signed, not yet registered entry. `uuid` in canonical lower case."""
        issued_at = self._clock()
        statement = make_statement(
            OperationRecord(
                operation=operation,
                vcon_uuid=uuid,
                org=self._pseudonym(org),
                content_hash=content_hash,
                issued_at=issued_at,
                parent_uuid=parent_uuid,
            ),
            self._key,
            self._name,
        )
        return ScittEntry(
            entry_id=entry_id_of(leaf_hash(statement)),
            operation=operation,
            statement=statement,
            created_at=issued_at,
        )
