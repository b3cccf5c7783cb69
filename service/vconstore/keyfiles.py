"""The store's local secrets: made on first start, kept across restarts.

* page-token.key: authenticates page tokens;
* keys/issuer-key.pem: the ES256 key signing the operation statements
  (VCON_ISSUER_KEY / VCON_ISSUER_KEY_FILE override it), and
  keys/issuer-public.pem, its public half, which the ledger is told to trust;
* keys/org-pseudonym.key: the HMAC key of organisation pseudonyms in statements;
* keys/dev-api-key: `vconstore up`'s development key (the key itself, so it
  can be printed at every start; only `up` writes or reads it).

And the shared credential between the store and the ledger
(VCON_LEDGER_CREDENTIAL / VCON_LEDGER_CREDENTIAL_FILE), which is configured,
never made here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vconstore.auth.keys import generate_key, is_well_formed
from vconstore.config import Settings, check_credential
from vconstore.ledger.signing import SigningKey

__all__ = [
    "DEV_API_KEY_FILE",
    "ISSUER_KEY_FILE",
    "ISSUER_PUBLIC_FILE",
    "ORG_PSEUDONYM_KEY_FILE",
    "PAGE_TOKEN_KEY_FILE",
    "load_dev_api_key",
    "load_issuer_key",
    "load_ledger_credential",
    "load_or_create_secret",
    "load_org_pseudonym_key",
    "load_page_token_key",
    "replace_dev_api_key",
    "write_issuer_public_key",
]

PAGE_TOKEN_KEY_FILE = Path("page-token.key")
ISSUER_KEY_FILE = Path("keys") / "issuer-key.pem"
ISSUER_PUBLIC_FILE = Path("keys") / "issuer-public.pem"
ORG_PSEUDONYM_KEY_FILE = Path("keys") / "org-pseudonym.key"
DEV_API_KEY_FILE = Path("keys") / "dev-api-key"
_MIN_SECRET_BYTES = 16


def _write_private(path: Path, content: bytes, *, replace: bool = False) -> None:
    """`content` in `path` (mode 0600), written whole under a temporary name
    and then moved into place, so a crash never leaves a partial file. Unless
    `replace`, an existing file wins: of two instances starting together the
    second uses the first one's content."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if replace:
            temporary.replace(path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create_secret(path: Path, *, what: str, consequence: str) -> bytes:
    """32 random bytes in `path` (mode 0600), created on first use."""
    if not path.exists():
        _write_private(path, secrets.token_bytes(32))
    key = path.read_bytes()
    if len(key) < _MIN_SECRET_BYTES:
        raise SystemExit(
            f"vconstore: {path} holds {len(key)} bytes, too short for {what}; "
            f"delete it and a new one is made ({consequence})"
        )
    return key


def load_page_token_key(data_dir: Path) -> bytes:
    return load_or_create_secret(
        data_dir / PAGE_TOKEN_KEY_FILE,
        what="a page-token key",
        consequence="outstanding page tokens become invalid",
    )


def load_org_pseudonym_key(settings: Settings) -> bytes:
    return load_or_create_secret(
        settings.org_pseudonym_key_file or settings.data_dir / ORG_PSEUDONYM_KEY_FILE,
        what="an organisation pseudonym key",
        consequence="organisations get new pseudonyms in later statements",
    )


def load_issuer_key(settings: Settings) -> SigningKey:
    """From VCON_ISSUER_KEY (PEM text), the configured file, or the data
    directory (generated there on first start)."""
    try:
        if settings.issuer_key_pem:
            return SigningKey.from_pem(settings.issuer_key_pem.encode())
        if settings.issuer_key_file is not None:
            # Configured, so it must exist: a mistyped path must not quietly
            # become a new key that the ledger does not trust.
            if not settings.issuer_key_file.is_file():
                raise ValueError(f"VCON_ISSUER_KEY_FILE {settings.issuer_key_file}: no such file")
            return SigningKey.load_or_generate(settings.issuer_key_file)
        return SigningKey.load_or_generate(settings.data_dir / ISSUER_KEY_FILE)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"vconstore: the statement issuer key: {exc}") from None


def write_issuer_public_key(settings: Settings) -> Path:
    """The issuer key's public half as PEM in the data directory, for the ledger
    to trust; rewritten only when it changed."""
    public = settings.data_dir / ISSUER_PUBLIC_FILE
    pem = load_issuer_key(settings).public_pem()
    try:
        if not public.exists() or public.read_text(encoding="ascii") != pem:
            public.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = public.with_name(f".{public.name}.{os.getpid()}")
            temporary.write_text(pem, encoding="ascii")
            temporary.replace(public)
    except OSError as exc:
        raise SystemExit(f"vconstore: cannot write {public}: {exc}") from None
    return public


def load_dev_api_key(data_dir: Path) -> str:
    """The development key kept in the data directory, made on first use."""
    path = data_dir / DEV_API_KEY_FILE
    try:
        if not path.exists():
            _write_private(path, generate_key().encode("ascii"))
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"vconstore: the development key file {path}: {exc}") from None
    if not is_well_formed(key):
        raise SystemExit(
            f"vconstore: {path} does not hold a vcs_live_sk_... key; delete it and a new "
            "development key is made"
        )
    return key


def replace_dev_api_key(data_dir: Path) -> str:
    """A new development key in place of one that was revoked."""
    key = generate_key()
    _write_private(data_dir / DEV_API_KEY_FILE, key.encode("ascii"), replace=True)
    return key


def load_ledger_credential(settings: Settings) -> str | None:
    """The store-ledger credential: VCON_LEDGER_CREDENTIAL, else the first
    line of the configured file; None when neither is configured."""
    if settings.ledger_credential is not None:
        return settings.ledger_credential
    path = settings.ledger_credential_file
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"vconstore: the ledger credential file {path}: {exc}") from None
    return check_credential(
        lines[0].strip() if lines else "", what=f"the ledger credential in {path}"
    )
