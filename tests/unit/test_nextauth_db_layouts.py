"""The adapters' layouts, the renamed tables and columns, the lookup's SQL, and the database URLs."""

import ssl

import msgspec
import pytest

from adapters.nextauth_db import LAYOUTS, DatabaseSessionConfigError, DatabaseSessionSettings, Layout
from adapters.nextauth_db.layouts import layout_from_settings, lookup_query, quote
from adapters.nextauth_db.mysql import connect_arguments
from adapters.nextauth_db.postgres import PostgresDriver
from adapters.secret import Secret


def settings(**changes: object) -> DatabaseSessionSettings:
    return msgspec.structs.replace(DatabaseSessionSettings(strategy="database", adapter="prisma"), **changes)


@pytest.mark.parametrize(
    ("adapter", "sessions", "users"),
    [
        ("pg", "sessions", "users"),
        ("prisma", "Session", "User"),
        ("drizzle", "session", "user"),
        ("kysely", "Session", "User"),
    ],
)
def test_reads_the_tables_each_adapter_creates_by_default(adapter: str, sessions: str, users: str) -> None:
    layout = layout_from_settings(settings(adapter=adapter))
    assert (layout.sessions_table, layout.users_table) == (sessions, users)
    assert layout == LAYOUTS[adapter]  # type: ignore[index]


def test_every_adapter_names_the_columns_after_the_adapter_session_and_user_fields() -> None:
    columns = {
        (
            layout.lookup_column,
            layout.session_user_id,
            layout.session_expires,
            layout.user_id,
            layout.user_name,
            layout.user_email,
            layout.user_image,
        )
        for layout in LAYOUTS.values()
    }
    assert columns == {("sessionToken", "userId", "expires", "id", "name", "email", "image")}


def test_renamed_tables_and_columns_replace_the_adapters_own() -> None:
    layout = layout_from_settings(
        settings(
            sessions_table="auth.user_sessions",
            users_table="accounts",
            session_token_column="session_token",
            session_user_id_column="user_id",
            session_expires_column="expires_at",
            user_id_column="uid",
            user_name_column="display_name",
            user_email_column="mail",
            user_image_column="avatar_url",
        )
    )
    assert layout == Layout(
        "auth.user_sessions",
        "accounts",
        "session_token",
        "user_id",
        "expires_at",
        "uid",
        "display_name",
        "mail",
        "avatar_url",
    )


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("sessions_table", "a.b.c", "EVENTGATE_NEXTAUTH_SESSIONS_TABLE"),
        ("users_table", "auth.", "EVENTGATE_NEXTAUTH_USERS_TABLE"),
        ("session_token_column", "token\n", "EVENTGATE_NEXTAUTH_SESSION_TOKEN_COLUMN"),
        ("user_email_column", " email", "EVENTGATE_NEXTAUTH_USER_EMAIL_COLUMN"),
        ("user_id_column", "x" * 64, "EVENTGATE_NEXTAUTH_USER_ID_COLUMN"),
    ],
)
def test_refuses_a_name_that_cannot_be_a_table_or_column_naming_the_variable(
    field: str, value: str, variable: str
) -> None:
    with pytest.raises(DatabaseSessionConfigError, match=variable):
        layout_from_settings(settings(**{field: value}))


def test_the_lookup_joins_the_session_to_its_user_and_binds_the_token() -> None:
    assert lookup_query(LAYOUTS["prisma"], "postgresql") == (
        'SELECT s."expires", u."id", u."name", u."email", u."image" FROM "Session" AS s '
        'JOIN "User" AS u ON u."id" = s."userId" WHERE s."sessionToken" = $1 LIMIT 1'
    )
    assert lookup_query(LAYOUTS["drizzle"], "mysql") == (
        "SELECT s.`expires`, u.`id`, u.`name`, u.`email`, u.`image` FROM `session` AS s "
        "JOIN `user` AS u ON u.`id` = s.`userId` WHERE s.`sessionToken` = ? LIMIT 1"
    )


def test_quotes_every_name_so_that_none_can_end_its_quotes() -> None:
    assert quote('we"ird', "postgresql") == '"we""ird"'
    assert quote("we`ird", "mysql") == "`we``ird`"
    assert quote("auth.sessions", "postgresql") == '"auth"."sessions"'
    layout = Layout('s"; DROP TABLE users; --', "users")
    assert '"s""; DROP TABLE users; --"' in lookup_query(layout, "postgresql")


def test_reads_a_mysql_url_into_driver_arguments() -> None:
    arguments = connect_arguments(Secret("mysql://reader:p%40ss%3Aword@db.internal:3307/app%2Dprod"))
    assert arguments["host"] == "db.internal"
    assert arguments["port"] == 3307
    assert arguments["user"] == "reader"
    assert arguments["password"] == "p@ss:word"
    assert arguments["database"] == "app-prod"
    assert arguments["ssl"] is None
    assert arguments["init_command"] == "SET SESSION TRANSACTION READ ONLY"


@pytest.mark.parametrize(
    ("mode", "verify", "check_hostname"),
    [
        ("require", ssl.CERT_NONE, False),
        ("verify-ca", ssl.CERT_REQUIRED, False),
        ("verify-full", ssl.CERT_REQUIRED, True),
    ],
)
def test_a_mysql_url_asks_for_tls_as_libpq_s_sslmode_does(
    mode: str, verify: int, check_hostname: bool
) -> None:
    context = connect_arguments(Secret(f"mysql://reader@db.internal/app?sslmode={mode}"))["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (verify, check_hostname)


@pytest.mark.parametrize(
    "url",
    [
        "mysql:///app",
        "mysql://reader@db.internal:port/app",
        "mysql://reader@db.internal/app?sslaccept=strict",
        "mysql://reader@db.internal/app?sslmode=prefer",
    ],
)
def test_refuses_a_mysql_url_it_cannot_follow_without_showing_it(url: str) -> None:
    with pytest.raises(DatabaseSessionConfigError) as refused:
        connect_arguments(Secret(url.replace("reader@", "reader:hunter2@")))
    assert "hunter2" not in str(refused.value)


def test_reads_a_prisma_schema_parameter_as_the_search_path_as_prisma_does() -> None:
    driver = PostgresDriver(
        Secret("postgresql://u:pw@127.0.0.1/app?schema=Auth&sslmode=disable"), "SELECT 1", statement_timeout=1
    )
    assert driver._server_settings["search_path"] == '"Auth"'
    assert driver._dsn == "postgresql://u:pw@127.0.0.1/app?sslmode=disable"


def test_asks_postgresql_for_read_only_transactions_and_a_statement_timeout() -> None:
    driver = PostgresDriver(Secret("postgresql://u@127.0.0.1/app"), "SELECT 1", statement_timeout=0.25)
    assert driver._server_settings["default_transaction_read_only"] == "on"
    assert driver._server_settings["statement_timeout"] == "250"
    assert "search_path" not in driver._server_settings


def test_the_database_url_never_shows_in_the_settings_repr() -> None:
    url = "postgresql://reader:hunter2@db.internal/app"
    assert "hunter2" not in repr(settings(database_url=Secret(url)))
