"""Where the PostgreSQL outbox lives, how many connections it uses, and what stands between."""

import re
import urllib.parse
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from adapters.secret import Secret
from adapters.setting_types import Count, PositiveSeconds

Pooler = Literal["none", "transaction"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def parse_schema_name(text: str) -> str:
    """A plain lower-case identifier, so that it needs no quoting anywhere it is written."""
    name = text.strip()
    if not _SCHEMA_NAME.fullmatch(name):
        raise ValueError("must be a lower-case name of letters, digits and underscores, such as eventgate")
    return name


def parse_outbox_url(text: str) -> Secret:
    """Empty (the SQLite file), or a ``postgresql://`` URL; the error never repeats the URL."""
    url = text.strip()
    if url and urllib.parse.urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// URL, or empty for the SQLite file")
    return Secret(url)


def describe_url(url: Secret) -> str:
    """Where the URL points, to show anyone: host, port and database, never the user or password."""
    parts = urllib.parse.urlsplit(url.reveal())
    database = parts.path.lstrip("/") or "(default database)"
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{database}"


class PostgresOutboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: Annotated[
        Secret,
        Meta(
            description="A `postgresql://` URL selects the PostgreSQL outbox, which any number of instances "
            "share; unset keeps the SQLite file at `EVENTGATE_OUTBOX_PATH`.",
            extra={"parse": parse_outbox_url},
        ),
    ] = msgspec.field(default=Secret(""), name="EVENTGATE_OUTBOX_URL")
    schema: Annotated[
        str,
        Meta(
            description="PostgreSQL schema of the outbox's tables, created on start; deployments sharing one "
            "database each take their own.",
            extra={"parse": parse_schema_name},
        ),
    ] = msgspec.field(default="eventgate", name="EVENTGATE_OUTBOX_SCHEMA")
    pool_size: Annotated[
        Count, Meta(description="Connections to the PostgreSQL outbox at most, per process.")
    ] = msgspec.field(default=8, name="EVENTGATE_OUTBOX_POOL_SIZE")
    timeout: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a write to the PostgreSQL outbox may wait for a connection and take; "
            "beyond it the request is answered 503 with `Retry-After`."
        ),
    ] = msgspec.field(default=2.0, name="EVENTGATE_OUTBOX_TIMEOUT")
    pooler: Annotated[
        Pooler,
        Meta(
            description="`transaction` when PgBouncer in transaction mode stands between: relays poll "
            "instead of LISTEN, and a dead instance's leases run out instead of being released at once."
        ),
    ] = msgspec.field(default="none", name="EVENTGATE_OUTBOX_POOLER")
