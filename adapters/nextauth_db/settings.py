"""What database sessions are configured with, one field per environment variable.

The composition parses the environment into this struct; times are in seconds. A table or column
left empty is the one the chosen adapter creates (see ``layouts``).
"""

from typing import Annotated, Literal, TypeAlias

import msgspec

from adapters.secret import Secret

Strategy: TypeAlias = Literal["jwt", "database"]
AdapterName: TypeAlias = Literal["pg", "prisma", "drizzle", "kysely"]
TokenFormat: TypeAlias = Literal["library", "custom"]

# A name, or for a table ``schema.table``; ``layouts`` checks each part.
_Column = Annotated[str, msgspec.Meta(max_length=64)]
_Table = Annotated[str, msgspec.Meta(max_length=129)]


class DatabaseSessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    strategy: Annotated[
        Strategy,
        msgspec.Meta(
            description="The app's `session.strategy`: `jwt` (the encrypted session cookie) or `database` "
            "(an opaque token looked up in the app's adapter tables)."
        ),
    ] = msgspec.field(default="jwt", name="EVENTGATE_NEXTAUTH_STRATEGY")
    database_url: Annotated[
        Secret,
        msgspec.Meta(
            description="The app's database, `postgresql://` or `mysql://` (read-only credentials "
            "recommended); `?sslmode=disable|require|verify-ca|verify-full` as in libpq."
        ),
    ] = msgspec.field(default=Secret(""), name="EVENTGATE_NEXTAUTH_DATABASE_URL")
    adapter: Annotated[
        AdapterName | None,
        msgspec.Meta(
            description="The app's Auth.js adapter, whose default tables are read: `pg` (`@auth/pg-adapter`), "
            "`prisma`, `drizzle` or `kysely`; required with `database`."
        ),
    ] = msgspec.field(default=None, name="EVENTGATE_NEXTAUTH_ADAPTER")
    session_cache: Annotated[
        float,
        msgspec.Meta(
            ge=0,
            description="Seconds a session found in the database is remembered (0: never); a signed-out "
            "session keeps working for at most this long.",
        ),
    ] = msgspec.field(default=5.0, name="EVENTGATE_NEXTAUTH_SESSION_CACHE")
    session_cache_entries: Annotated[
        int, msgspec.Meta(ge=1, description="Sessions remembered at most; the oldest is forgotten first.")
    ] = msgspec.field(default=4096, name="EVENTGATE_NEXTAUTH_SESSION_CACHE_ENTRIES")
    pool_size: Annotated[
        int, msgspec.Meta(ge=1, description="Connections to the session database at most, per process.")
    ] = msgspec.field(default=10, name="EVENTGATE_NEXTAUTH_DATABASE_POOL_SIZE")
    query_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Seconds one lookup may take, waiting for a connection and connecting included; "
            "beyond it the request is answered 503.",
        ),
    ] = msgspec.field(default=1.0, name="EVENTGATE_NEXTAUTH_DATABASE_TIMEOUT")
    token_format: Annotated[
        TokenFormat,
        msgspec.Meta(
            description="`library`: only tokens the library's `generateSessionToken` makes (a UUID, or 64 "
            "hex digits) are looked up; `custom`: 1 to 4096 visible ASCII characters, for an app with its own."
        ),
    ] = msgspec.field(default="library", name="EVENTGATE_NEXTAUTH_SESSION_TOKEN_FORMAT")
    sessions_table: Annotated[
        _Table, msgspec.Meta(description="The sessions table, when renamed (`schema.table` allowed).")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_SESSIONS_TABLE")
    users_table: Annotated[
        _Table, msgspec.Meta(description="The users table, when renamed (`schema.table` allowed).")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_USERS_TABLE")
    session_token_column: Annotated[
        _Column, msgspec.Meta(description="The sessions table's `sessionToken` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_SESSION_TOKEN_COLUMN")
    session_user_id_column: Annotated[
        _Column, msgspec.Meta(description="The sessions table's `userId` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_SESSION_USER_ID_COLUMN")
    session_expires_column: Annotated[
        _Column, msgspec.Meta(description="The sessions table's `expires` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_SESSION_EXPIRES_COLUMN")
    user_id_column: Annotated[
        _Column, msgspec.Meta(description="The users table's `id` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_USER_ID_COLUMN")
    user_name_column: Annotated[
        _Column, msgspec.Meta(description="The users table's `name` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_USER_NAME_COLUMN")
    user_email_column: Annotated[
        _Column, msgspec.Meta(description="The users table's `email` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_USER_EMAIL_COLUMN")
    user_image_column: Annotated[
        _Column, msgspec.Meta(description="The users table's `image` column, when renamed.")
    ] = msgspec.field(default="", name="EVENTGATE_NEXTAUTH_USER_IMAGE_COLUMN")
