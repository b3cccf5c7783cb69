"""The production storage adapter: MongoDB through pymongo's async API
(`pymongo.AsyncMongoClient`; never Motor, which MongoDB has deprecated)."""

from __future__ import annotations

from .documents import MAX_DOCUMENT_BYTES
from .lifecycle import ClientFactory, connect
from .options import DEFAULT_CLIENT_OPTIONS, MongoOptions, describe_uri
from .repository import MongoVconRepository

__all__ = [
    "DEFAULT_CLIENT_OPTIONS",
    "MAX_DOCUMENT_BYTES",
    "ClientFactory",
    "MongoOptions",
    "MongoVconRepository",
    "connect",
    "describe_uri",
]
