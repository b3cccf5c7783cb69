"""The ledger's keys: the one that signs, the retired ones still published so
old receipts verify, and the issuers whose statements it accepts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from vconstore.ledger.checkpoint import signed_checkpoint
from vconstore.ledger.config import KEY_FILE, LedgerSettings
from vconstore.ledger.ports import TreeHead
from vconstore.ledger.receipts import sign_tree_head
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import IssuerTrust
from vconstore_client.transparency.cose import KID, decode_cbor
from vconstore_client.transparency.errors import FormatError
from vconstore_client.transparency.keys import (
    cose_key_thumbprint,
    kid_text,
    public_key_from_pem,
    public_key_to_jwk,
)
from vconstore_client.transparency.merkle import EMPTY_ROOT

__all__ = [
    "Keyring",
    "PublishedKey",
    "check_log_key",
    "load_keyring",
    "load_trusted_issuers",
    "read_public_key",
]


@dataclass(frozen=True, slots=True)
class PublishedKey:
    kid_text: str
    pem: str
    jwk: dict[str, Any]
    current: bool


def _pem_of(key: EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _published(key: EllipticCurvePublicKey, *, current: bool) -> PublishedKey:
    return PublishedKey(
        kid_text=kid_text(cose_key_thumbprint(key)),
        pem=_pem_of(key),
        jwk=public_key_to_jwk(key),
        current=current,
    )


def read_public_key(path: Path, *, what: str) -> EllipticCurvePublicKey:
    """A P-256 public key from a PEM file holding either the public key or the
    private key (whose public half is taken). Exits with a one-line reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"vconstore: cannot read {what} {path}: {exc.strerror}") from None
    try:
        return public_key_from_pem(data)
    except ValueError as exc:
        raise SystemExit(f"vconstore: {what} {path}: {exc}") from None


class Keyring:
    def __init__(
        self,
        current: SigningKey,
        retired: Sequence[EllipticCurvePublicKey],
        *,
        origin: str,
    ) -> None:
        self.current = current
        self.published = [
            _published(current.public_key, current=True),
            *(_published(key, current=False) for key in retired),
        ]
        # The checkpoint answered while nothing is registered yet: the empty
        # tree, signed once at start-up.
        now = datetime.now(UTC)
        protected, signature = sign_tree_head(
            current, origin=origin, size=0, root=EMPTY_ROOT, signed_at=now
        )
        self.empty_head = TreeHead(
            size=0,
            root=EMPTY_ROOT,
            signed_at=now,
            receipt_protected=protected,
            receipt_signature=signature,
            checkpoint=signed_checkpoint(current, origin=origin, size=0, root=EMPTY_ROOT),
        )


def check_log_key(keyring: Keyring, head: TreeHead) -> None:
    """Refuse to extend a log whose latest receipts were signed by a key this
    ledger does not publish: those receipts could no longer be verified with
    ListVerificationKeys (a lost or replaced key file, a data directory that
    did not persist). Exits with what to configure."""
    try:
        kid = decode_cbor(head.receipt_protected).get(KID)
    except (FormatError, AttributeError):
        kid = None
    published = {key.kid_text for key in keyring.published}
    if not isinstance(kid, bytes) or kid_text(kid) not in published:
        shown = kid_text(kid) if isinstance(kid, bytes) else "unknown"
        raise SystemExit(
            f"vconstore: the log's receipts up to size {head.size} were signed by key "
            f"{shown}, which this ledger does not publish; start it with that key "
            "(VCON_LEDGER_KEY or --key-file), or with its public key as --retired-key "
            "after a rotation"
        )


def load_signing_key(settings: LedgerSettings, data_dir: Path) -> SigningKey:
    """From VCON_LEDGER_KEY (PEM text), else the key file, else generated into
    the data directory on first start."""
    if settings.key_pem:
        try:
            return SigningKey.from_pem(settings.key_pem.encode())
        except ValueError as exc:
            raise SystemExit(f"vconstore: VCON_LEDGER_KEY: {exc}") from None
    if settings.key_file is not None:
        try:
            data = settings.key_file.read_bytes()
        except OSError as exc:
            raise SystemExit(
                f"vconstore: cannot read ledger key {settings.key_file}: {exc.strerror}"
            ) from None
        try:
            return SigningKey.from_pem(data)
        except ValueError as exc:
            raise SystemExit(f"vconstore: ledger key {settings.key_file}: {exc}") from None
    try:
        return SigningKey.load_or_generate(data_dir / KEY_FILE)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"vconstore: ledger key {data_dir / KEY_FILE}: {exc}") from None


def load_keyring(settings: LedgerSettings, data_dir: Path) -> Keyring:
    current = load_signing_key(settings, data_dir)
    retired = [read_public_key(p, what="retired ledger key") for p in settings.retired_key_files]
    return Keyring(current, retired, origin=settings.origin)


def load_trusted_issuers(settings: LedgerSettings) -> list[tuple[str, EllipticCurvePublicKey]]:
    """(issuer name, key) pairs, refused at start-up if one key is trusted under two names."""
    issuers = [
        (name, read_public_key(path, what=f"key of trusted issuer {name!r}"))
        for name, path in settings.trusted_issuers
    ]
    try:
        IssuerTrust(issuers)
    except ValueError as exc:
        raise SystemExit(f"vconstore: trusted issuers: {exc}") from None
    return issuers
