"""How the MongoDB client is configured: the service's knobs, the URI's own
options and our defaults, merged in that order of precedence.

pymongo lets keyword arguments override URI options, so passing our defaults
blindly would silently undo `?serverSelectionTimeoutMS=500` in a URI. Here a
knob the operator set explicitly wins, then the URI, then the default below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "DEFAULT_CLIENT_OPTIONS",
    "MongoOptions",
    "describe_uri",
    "redact",
    "uri_option_names",
]

# Defaults chosen for a service answering gRPC calls with deadlines, not for
# batch jobs: pymongo's own (30 s server selection, 20 s connect, no socket
# timeout) would let a call hang far past any sensible client deadline while
# MongoDB is unreachable.
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 5_000,
    "connectTimeoutMS": 5_000,
    "socketTimeoutMS": 30_000,
    "maxPoolSize": 100,
    # An acknowledged create must survive the loss of the primary: it is on a
    # majority of members, in their journals. A standalone mongod accepts this too.
    "w": "majority",
    "journal": True,
    # Without it a majority write would wait forever while a secondary is down.
    "wTimeoutMS": 10_000,
    "appname": "vconstore",
}


@dataclass(frozen=True, slots=True)
class MongoOptions:
    """Where the vCons live and how to reach them. None means "not set here":
    the URI's option applies, else DEFAULT_CLIENT_OPTIONS."""

    # Never printed: it may carry a password (see describe_uri).
    uri: str = field(repr=False)
    database: str = "vconstore"
    collection: str = "vcons"
    server_selection_timeout_ms: int | None = None
    connect_timeout_ms: int | None = None
    # 0 means no timeout.
    socket_timeout_ms: int | None = None
    max_pool_size: int | None = None
    # "majority", a number of members, or a tag-set name.
    write_concern: str | None = None
    journal: bool | None = None
    write_timeout_ms: int | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AsyncMongoClient(uri, **kwargs)."""
        in_uri = uri_option_names(self.uri)
        kwargs = {
            name: value
            for name, value in DEFAULT_CLIENT_OPTIONS.items()
            if name.lower() not in in_uri
        }
        explicit: dict[str, Any] = {
            "serverSelectionTimeoutMS": self.server_selection_timeout_ms,
            "connectTimeoutMS": self.connect_timeout_ms,
            "socketTimeoutMS": self.socket_timeout_ms,
            "maxPoolSize": self.max_pool_size,
            "w": _write_concern_w(self.write_concern),
            "journal": self.journal,
            "wTimeoutMS": self.write_timeout_ms,
        }
        kwargs.update({name: value for name, value in explicit.items() if value is not None})
        return kwargs

    def describe(self) -> str:
        """For logs: hosts and database, without credentials or URI options."""
        return f"{describe_uri(self.uri)} database={self.database}"


def _write_concern_w(value: str | None) -> str | int | None:
    # pymongo reads w=2 as "two members" only when it is an int; "2" would be a tag set.
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else value


def uri_option_names(uri: str) -> set[str]:
    """The (case-insensitive) option names a mongodb:// URI sets in its query.

    Parsed here rather than with pymongo's URI parser, which resolves DNS for
    mongodb+srv:// URIs, a blocking network call we do not want in a constructor.
    """
    _, _, query = uri.partition("?")
    # The connection-string spec allows ';' as well as '&' between options.
    pairs = parse_qsl(query.replace(";", "&"), keep_blank_values=True)
    names = {name.lower() for name, _ in pairs}
    # `j` is the write concern's own spelling of `journal`.
    if "j" in names:
        names.add("journal")
    return names


def describe_uri(uri: str) -> str:
    """`scheme://hosts` of a MongoDB URI: no user, password, path or options,
    since an option such as tlsCertificateKeyFilePassword is a secret too."""
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return "<MongoDB URI without a scheme>"
    # After the LAST "@" before the options, then up to the path: a password
    # with an unescaped "/" or "@" must not be taken for hosts.
    hosts = rest.partition("?")[0].rpartition("@")[2].partition("/")[0]
    return f"{scheme}://{hosts}"


def redact(text: str, uri: str) -> str:
    """`text` (an error message about `uri`), or a placeholder if it quotes any
    part of the URI's user information or of a password option. Parts, not
    just the whole: pymongo reports e.g. `Bad database name "w0rd@host/"` for a
    password with an unescaped slash."""
    head, _, query = uri.partition("?")
    userinfo = head.partition("://")[2].rpartition("@")[0]
    secrets = re.split(r"[:/@]", userinfo)
    secrets += [
        value for name, value in parse_qsl(query.replace(";", "&")) if "password" in name.lower()
    ]
    if any(len(secret) >= 3 and secret in text for secret in secrets):
        return "details withheld: they quote the URI's credentials"
    return text
