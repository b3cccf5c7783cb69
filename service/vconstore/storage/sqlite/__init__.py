"""The embedded default storage adapter: SQLite (stdlib), WAL, group commit."""

from __future__ import annotations

from .migrations import LATEST_VERSION, SchemaTooNew
from .repository import SqliteVconRepository
from .writer import WriteStats

__all__ = ["LATEST_VERSION", "SchemaTooNew", "SqliteVconRepository", "WriteStats"]
