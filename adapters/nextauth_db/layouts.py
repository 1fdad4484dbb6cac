"""Where each official Auth.js adapter keeps sessions and users, and the one query that reads them.

Every adapter names the columns alike (the ``AdapterSession`` and ``AdapterUser`` fields); only the
table names differ, as their own schemas create them:

- ``pg``: ``@auth/pg-adapter``'s ``schema.sql``: ``sessions`` and ``users`` (ids are ``SERIAL``).
- ``prisma``: the models ``Session`` and ``User`` of Auth.js's documented Prisma schema.
- ``drizzle``: ``@auth/drizzle-adapter``'s default tables, ``session`` and ``user``, on PostgreSQL
  and on MySQL.
- ``kysely``: ``@auth/kysely-adapter``'s ``Database`` interface: ``Session`` and ``User``.

The query joins the session to its user as the adapters' ``getSessionAndUser`` does (an inner join:
a session whose user is gone is no session) and leaves the expiry to the caller, who compares it
with the clock as the library does.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from adapters.nextauth_db.errors import DatabaseSessionConfigError
from adapters.nextauth_db.settings import AdapterName, DatabaseSessionSettings

Dialect: TypeAlias = Literal["postgresql", "mysql"]

_MAX_IDENTIFIER_LENGTH = 63
"""PostgreSQL truncates longer names to 63 bytes; MySQL allows 64 characters."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The two tables and the columns read from them."""

    sessions_table: str
    users_table: str
    lookup_column: str = "sessionToken"
    """The sessions table's column holding the token a session is looked up by."""
    session_user_id: str = "userId"
    session_expires: str = "expires"
    user_id: str = "id"
    user_name: str = "name"
    user_email: str = "email"
    user_image: str = "image"


LAYOUTS: Mapping[AdapterName, Layout] = {
    "pg": Layout("sessions", "users"),
    "prisma": Layout("Session", "User"),
    "drizzle": Layout("session", "user"),
    "kysely": Layout("Session", "User"),
}

_OVERRIDES = (
    ("sessions_table", "sessions_table", "EVENTGATE_NEXTAUTH_SESSIONS_TABLE"),
    ("users_table", "users_table", "EVENTGATE_NEXTAUTH_USERS_TABLE"),
    ("lookup_column", "session_token_column", "EVENTGATE_NEXTAUTH_SESSION_TOKEN_COLUMN"),
    ("session_user_id", "session_user_id_column", "EVENTGATE_NEXTAUTH_SESSION_USER_ID_COLUMN"),
    ("session_expires", "session_expires_column", "EVENTGATE_NEXTAUTH_SESSION_EXPIRES_COLUMN"),
    ("user_id", "user_id_column", "EVENTGATE_NEXTAUTH_USER_ID_COLUMN"),
    ("user_name", "user_name_column", "EVENTGATE_NEXTAUTH_USER_NAME_COLUMN"),
    ("user_email", "user_email_column", "EVENTGATE_NEXTAUTH_USER_EMAIL_COLUMN"),
    ("user_image", "user_image_column", "EVENTGATE_NEXTAUTH_USER_IMAGE_COLUMN"),
)


def layout_from_settings(settings: DatabaseSessionSettings) -> Layout:
    """The adapter's layout with the renamed tables and columns; ``DatabaseSessionConfigError`` if a
    name cannot be one, or no adapter is chosen."""
    if settings.adapter is None:
        raise DatabaseSessionConfigError(
            "EVENTGATE_NEXTAUTH_ADAPTER must name the app's adapter (pg, prisma, drizzle or kysely) "
            "when EVENTGATE_NEXTAUTH_STRATEGY is database"
        )
    changes: dict[str, str] = {}
    for field, setting, variable in _OVERRIDES:
        name: str = getattr(settings, setting)
        if name:
            _check_name(name, variable, qualified=field.endswith("_table"))
            changes[field] = name
    return replace(LAYOUTS[settings.adapter], **changes)


def _check_name(name: str, variable: str, *, qualified: bool) -> None:
    parts = name.split(".") if qualified else [name]
    if len(parts) > 2 or not all(_usable(part) for part in parts):
        shape = "a table name, or schema.table," if qualified else "a column name"
        raise DatabaseSessionConfigError(
            f"{variable} must be {shape} of 1 to {_MAX_IDENTIFIER_LENGTH} characters without control "
            f"characters, got {name!r}"
        )


def _usable(part: str) -> bool:
    return 0 < len(part) <= _MAX_IDENTIFIER_LENGTH and part.isprintable() and part.strip() == part


def quote(name: str, dialect: Dialect) -> str:
    """``name`` as a quoted identifier; a table's ``schema.table`` becomes two."""
    return ".".join(_quote_part(part, dialect) for part in name.split("."))


def _quote_part(part: str, dialect: Dialect) -> str:
    mark = '"' if dialect == "postgresql" else "`"
    return mark + part.replace(mark, mark * 2) + mark


def lookup_query(layout: Layout, dialect: Dialect) -> str:
    """The session's expiry and its user's id, name, email and image, for the token bound as the only
    parameter of the prepared statement (``$1`` in PostgreSQL, ``?`` in MySQL)."""

    def column(alias: str, name: str) -> str:
        return f"{alias}.{_quote_part(name, dialect)}"

    user_id = column("u", layout.user_id)
    selected = (
        column("s", layout.session_expires),
        user_id,
        column("u", layout.user_name),
        column("u", layout.user_email),
        column("u", layout.user_image),
    )
    parameter = "$1" if dialect == "postgresql" else "?"
    return (
        f"SELECT {', '.join(selected)} "
        f"FROM {quote(layout.sessions_table, dialect)} AS s "
        f"JOIN {quote(layout.users_table, dialect)} AS u ON {user_id} = {column('s', layout.session_user_id)} "
        f"WHERE {column('s', layout.lookup_column)} = {parameter} LIMIT 1"
    )
