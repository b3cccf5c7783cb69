"""Why a receipt, proof, checkpoint or signed statement failed verification."""

from __future__ import annotations

__all__ = ["FormatError", "ProofError", "SignatureError", "VerificationError"]


class VerificationError(Exception):
    """Base: the object must not be trusted. The message says why."""


class FormatError(VerificationError):
    """The bytes are not a well-formed object of the expected kind."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not hold."""


class SignatureError(VerificationError):
    """A signature does not verify, or its key is not one of the trusted keys."""
