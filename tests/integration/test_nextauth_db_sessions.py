"""DatabaseSession against the real PostgreSQL and MariaDB, on each adapter's own tables.

The module makes one database per adapter and database server, and drops them at the end; failures
are made with the loopback fault proxy, a lock such as a migration takes, and the server ending
connections as a restart does.
"""

import asyncio
import datetime
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
import pytest
from dependency_injector import containers, providers

from adapters.nextauth_db import DatabaseSession, DatabaseSessionSettings, SessionStoreMisconfigured
from adapters.nextauth_db.layouts import LAYOUTS, lookup_query
from adapters.nextauth_db.mysql import MySqlDriver
from adapters.nextauth_db.postgres import PostgresDriver
from adapters.secret import Secret
from application.ports import SessionCredentials
from domain.errors import SessionStoreUnavailable
from domain.user import User
from tests.auth_schemas import SCHEMAS, AuthTables, every_adapter_schema
from tests.databases import Dialect, execute, mysql_connection, throwaway_database, url
from tests.faults.tcp_proxy import TcpFaultProxy

pytestmark = pytest.mark.anyio

COOKIE = "authjs.session-token"
DEADLINE = 0.5
IN_A_MONTH = datetime.timedelta(days=30)
PORTS: dict[Dialect, int] = {"postgresql": 5432, "mysql": 3306}


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, AuthTables]]:
    """Each adapter's tables in a database of their own, by ``<adapter>/<dialect>``."""
    with every_adapter_schema("eventgate_sessions") as tables:
        yield tables


@pytest.fixture(params=sorted(SCHEMAS))
def tables(request: pytest.FixtureRequest, databases: dict[str, AuthTables]) -> AuthTables:
    return databases[request.param]


def settings_for(tables: AuthTables, **changes: object) -> DatabaseSessionSettings:
    base = DatabaseSessionSettings(
        strategy="database",
        database_url=Secret(tables.url),
        adapter=tables.schema.name,  # type: ignore[arg-type]
        session_cache=0,
        query_timeout=DEADLINE,
    )
    return msgspec.structs.replace(base, **changes)


@pytest.fixture
async def session(tables: AuthTables) -> AsyncIterator[DatabaseSession]:
    async with DatabaseSession.from_settings(settings_for(tables), 5) as opened:
        yield opened


def cookie(token: str) -> SessionCredentials:
    return SessionCredentials(cookies={COOKIE: token})


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def test_returns_the_user_a_live_session_row_belongs_to(
    tables: AuthTables, session: DatabaseSession
) -> None:
    user_id = await tables.add_user("Ada Lovelace", "ada@example.com", "https://example.com/a.png")
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    user = await session.current_user(cookie(token))
    assert user == User(user_id, "Ada Lovelace", "ada@example.com", "https://example.com/a.png")


async def test_a_user_without_name_or_image_is_signed_in_without_them(
    tables: AuthTables, session: DatabaseSession
) -> None:
    user_id = await tables.add_user(None, "grace@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    assert await session.current_user(cookie(token)) == User(user_id, email="grace@example.com")


async def test_reads_unicode_names_as_the_app_wrote_them(
    tables: AuthTables, session: DatabaseSession
) -> None:
    user_id = await tables.add_user("Zoë Ñúñez 李小龍 🎉", f"zoë-{uuid.uuid4()}@exämple.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    user = await session.current_user(cookie(token))
    assert user is not None
    assert user.name == "Zoë Ñúñez 李小龍 🎉"


async def test_an_expired_session_proves_nobody_and_stays_in_the_table(
    tables: AuthTables, session: DatabaseSession
) -> None:
    email = f"ada-{uuid.uuid4()}@example.com"
    user_id = await tables.add_user("Ada", email, None)
    expired = await tables.add_session(user_id, now() - datetime.timedelta(seconds=2))
    soon = await tables.add_session(user_id, now() + datetime.timedelta(seconds=5))
    assert await session.current_user(cookie(expired)) is None
    assert await session.current_user(cookie(soon)) == User(user_id, "Ada", email)
    assert len(await session_row(tables, expired)) == 1


async def test_an_unknown_or_deleted_session_proves_nobody(
    tables: AuthTables, session: DatabaseSession
) -> None:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    assert await session.current_user(cookie(token)) is not None
    await tables.delete_session(token)
    assert await session.current_user(cookie(token)) is None
    assert await session.current_user(cookie(str(uuid.uuid4()))) is None


async def test_never_writes_the_expiry_or_anything_else(tables: AuthTables, session: DatabaseSession) -> None:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + datetime.timedelta(hours=1))
    before = await session_row(tables, token)
    for _ in range(3):
        assert await session.current_user(cookie(token)) is not None
    assert await session_row(tables, token) == before


async def test_reads_with_a_user_granted_select_on_the_two_tables_only(tables: AuthTables) -> None:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    async with (
        select_only_user(tables) as reader_url,
        DatabaseSession.from_settings(settings_for(tables, database_url=Secret(reader_url)), 5) as reader,
    ):
        assert await reader.probe() is None
        user = await reader.current_user(cookie(token))
    assert user is not None
    assert user.id == user_id


async def test_opening_fails_when_the_tables_are_not_there(tables: AuthTables) -> None:
    layout = msgspec.structs.replace(settings_for(tables), sessions_table="no_such_sessions")
    with pytest.raises(SessionStoreMisconfigured, match="refused the lookup"):
        async with DatabaseSession.from_settings(layout, 5):
            pass


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
async def test_reads_renamed_tables_and_columns(dialect: Dialect) -> None:
    quote = '"' if dialect == "postgresql" else "`"
    ddl = [
        f"CREATE TABLE {quote}app_users{quote} (uid VARCHAR(64) PRIMARY KEY, display_name TEXT, mail TEXT, avatar TEXT)",
        f"CREATE TABLE {quote}app_sessions{quote} (session_token VARCHAR(64) PRIMARY KEY, user_ref VARCHAR(64), "
        f"valid_until {'TIMESTAMPTZ' if dialect == 'postgresql' else 'DATETIME(3)'})",
        "INSERT INTO app_users VALUES ('u-7', 'Ada', 'ada@example.com', NULL)",
        "INSERT INTO app_sessions VALUES ('2c6e8a47-3b1f-4d6a-9c1e-5f0a7b3d9e21', 'u-7', '2999-01-01 00:00:00')",
    ]
    token = "2c6e8a47-3b1f-4d6a-9c1e-5f0a7b3d9e21"
    async with throwaway_database(dialect, "eventgate_renamed") as database:
        await execute(dialect, database, ddl)
        renamed = DatabaseSessionSettings(
            strategy="database",
            database_url=Secret(url(dialect, database)),
            adapter="prisma",
            sessions_table="app_sessions",
            users_table="app_users",
            session_token_column="session_token",
            session_user_id_column="user_ref",
            session_expires_column="valid_until",
            user_id_column="uid",
            user_name_column="display_name",
            user_email_column="mail",
            user_image_column="avatar",
        )
        async with DatabaseSession.from_settings(renamed, 5) as session:
            assert await session.current_user(cookie(token)) == User("u-7", "Ada", "ada@example.com")


async def test_finds_prisma_tables_in_the_schema_its_url_names() -> None:
    async with throwaway_database("postgresql", "eventgate_prisma_schema") as database:
        prisma = SCHEMAS["prisma/postgresql"]
        await execute(
            "postgresql", database, ['CREATE SCHEMA "Auth"', 'SET search_path TO "Auth"', *prisma.ddl]
        )
        user_id, token = await add_in_schema(database, "Auth")
        tables = AuthTables(prisma, database)
        settings = settings_for(tables, database_url=Secret(f"{tables.url}?schema=Auth"))
        async with DatabaseSession.from_settings(settings, 5) as session:
            assert await session.current_user(cookie(token)) == User(user_id, "Ada", "ada@example.com")


async def test_asks_the_server_for_read_only_connections() -> None:
    async with throwaway_database("postgresql", "eventgate_read_only") as database:
        driver = PostgresDriver(Secret(url("postgresql", database)), "SELECT $1::text", statement_timeout=1)
        pg = await driver.connect()
        try:
            assert await pg.connection.fetchval("SHOW default_transaction_read_only") == "on"
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await pg.connection.execute("CREATE TABLE written (n int)")
        finally:
            driver.close(pg)
    async with throwaway_database("mysql", "eventgate_read_only") as database:
        my_driver = MySqlDriver(Secret(url("mysql", database)), "SELECT ?")
        my = await my_driver.connect()
        try:
            async with my.connection.cursor() as cursor:
                await cursor.execute("SELECT @@session.tx_read_only")
                assert await cursor.fetchone() == (1,)
        finally:
            my_driver.close(my)


async def test_the_lookup_is_one_prepared_statement_per_connection(tables: AuthTables) -> None:
    """Prepared once when the connection opens; each lookup only executes it."""
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    query = lookup_query(LAYOUTS[tables.schema.name], tables.schema.dialect)  # type: ignore[index]
    assert query.endswith("= $1 LIMIT 1" if tables.schema.dialect == "postgresql" else "= ? LIMIT 1")
    async with DatabaseSession.from_settings(settings_for(tables, pool_size=1), 5) as session:
        for _ in range(5):
            assert await session.current_user(cookie(token)) is not None
        assert await server_connections(tables) == 1


async def test_holds_at_most_its_pool_of_connections_however_many_requests_wait(tables: AuthTables) -> None:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    async with DatabaseSession.from_settings(
        settings_for(tables, pool_size=3, query_timeout=5.0), 5
    ) as session:
        users = await asyncio.gather(*(session.current_user(cookie(token)) for _ in range(40)))
        assert all(user is not None for user in users)
        assert await server_connections(tables) <= 3


async def test_the_cache_answers_a_signed_out_session_until_it_is_as_old_as_the_cache_time(
    tables: AuthTables,
) -> None:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    async with DatabaseSession.from_settings(settings_for(tables, session_cache=0.3), 5) as session:
        assert await session.current_user(cookie(token)) is not None
        await tables.delete_session(token)
        assert await session.current_user(cookie(token)) is not None
        await asyncio.sleep(0.3)
        assert await session.current_user(cookie(token)) is None


# When the database does not answer.


@pytest.fixture(params=["postgresql", "mysql"])
def proxied(
    request: pytest.FixtureRequest, databases: dict[str, AuthTables]
) -> Iterator[tuple[AuthTables, TcpFaultProxy]]:
    """Drizzle's tables, reached through the fault proxy."""
    dialect: Dialect = request.param
    with TcpFaultProxy("127.0.0.1", PORTS[dialect]) as proxy:
        yield databases[f"drizzle/{dialect}"], proxy


async def signed_in_through(tables: AuthTables, proxy: TcpFaultProxy) -> tuple[DatabaseSession, str]:
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    through = Secret(url(tables.schema.dialect, tables.database, port=proxy.port))
    session = DatabaseSession.from_settings(settings_for(tables, database_url=through), 5)
    await session.open()
    return session, token


async def test_a_database_that_refuses_connections_answers_unavailable_at_once(
    proxied: tuple[AuthTables, TcpFaultProxy],
) -> None:
    tables, proxy = proxied
    session, token = await signed_in_through(tables, proxy)
    proxy.refuse()
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable, match="unreachable") as raised:
        await session.current_user(cookie(token))
    assert time.monotonic() - started < DEADLINE
    assert raised.value.retry_after > 0
    assert await session.probe() == "the session database is unreachable"
    proxy.forward()
    assert await session.current_user(cookie(token)) is not None
    await session.close()


async def test_a_database_that_stops_answering_is_unavailable_within_the_deadline(
    proxied: tuple[AuthTables, TcpFaultProxy],
) -> None:
    tables, proxy = proxied
    session, token = await signed_in_through(tables, proxy)
    proxy.black_hole()
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable, match=f"within {DEADLINE:g} s"):
        await session.current_user(cookie(token))
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 0.5
    proxy.forward()
    assert await session.current_user(cookie(token)) is not None
    await session.close()


async def test_cut_connections_are_replaced_without_failing_a_lookup(
    proxied: tuple[AuthTables, TcpFaultProxy],
) -> None:
    tables, proxy = proxied
    session, token = await signed_in_through(tables, proxy)
    assert await session.current_user(cookie(token)) is not None
    connections = proxy.connections
    proxy.cut()
    assert await session.current_user(cookie(token)) is not None
    assert proxy.connections == connections + 1
    await session.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
async def test_connections_the_server_ended_as_in_a_restart_are_replaced(
    dialect: Dialect, databases: dict[str, AuthTables]
) -> None:
    tables = databases[f"drizzle/{dialect}"]
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    async with DatabaseSession.from_settings(settings_for(tables, pool_size=2), 5) as session:
        await asyncio.gather(*(session.current_user(cookie(token)) for _ in range(4)))
        await end_server_connections(tables)
        assert await session.current_user(cookie(token)) is not None


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
async def test_a_sessions_table_locked_by_a_migration_is_unavailable_within_the_deadline(
    dialect: Dialect, databases: dict[str, AuthTables]
) -> None:
    tables = databases[f"drizzle/{dialect}"]
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    async with DatabaseSession.from_settings(settings_for(tables), 5) as session, locked(tables):
        with pytest.raises(SessionStoreUnavailable, match="did not answer"):
            await session.current_user(cookie(token))
    async with DatabaseSession.from_settings(settings_for(tables), 5) as session:
        assert await session.current_user(cookie(token)) is not None


# Helpers that look at the database from outside.


async def session_row(tables: AuthTables, token: str) -> list[tuple[object, ...]]:
    return await admin_query(tables, tables.schema.find_session, token)


async def admin_query(tables: AuthTables, sql: str, *parameters: object) -> list[tuple[object, ...]]:
    if tables.schema.dialect == "postgresql":
        connection = await asyncpg.connect(tables.url)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *parameters)]
        finally:
            await connection.close()
    my = await mysql_connection(tables.database)
    try:
        async with my.cursor() as cursor:
            await cursor.execute(sql, parameters or None)
            return [tuple(row) for row in await cursor.fetchall()]
    finally:
        my.close()


PG_OURS = "FROM pg_stat_activity WHERE datname = $1 AND application_name = 'eventgate-sessions'"
MY_OURS = "FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()"


async def server_connections(tables: AuthTables) -> int:
    """eventgate's connections to the tables' database, as the server counts them."""
    ours = PG_OURS if tables.schema.dialect == "postgresql" else MY_OURS
    return int(str((await admin_query(tables, "SELECT count(*) " + ours, tables.database))[0][0]))


async def end_server_connections(tables: AuthTables) -> None:
    """End eventgate's connections from the server's side, as a restart or an administrator does."""
    if tables.schema.dialect == "postgresql":
        await admin_query(tables, "SELECT pg_terminate_backend(pid) " + PG_OURS, tables.database)
        return
    for (thread,) in await admin_query(tables, "SELECT id " + MY_OURS, tables.database):
        await execute("mysql", None, [f"KILL CONNECTION {int(str(thread))}"])


@asynccontextmanager
async def locked(tables: AuthTables) -> AsyncIterator[None]:
    """The sessions table locked as a migration locks it, until the block ends."""
    table = tables.schema.layout.sessions_table
    if tables.schema.dialect == "postgresql":
        connection = await asyncpg.connect(tables.url)
        try:
            async with connection.transaction():
                await connection.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
                yield
        finally:
            await connection.close()
        return
    my = await mysql_connection(tables.database)
    try:
        async with my.cursor() as cursor:
            await cursor.execute(f"LOCK TABLES `{table}` WRITE")
            yield
            await cursor.execute("UNLOCK TABLES")
    finally:
        my.close()


@asynccontextmanager
async def select_only_user(tables: AuthTables) -> AsyncIterator[str]:
    """A database user granted SELECT on the sessions and users tables and nothing else; its URL."""
    name = f"eventgate_reader_{secrets.token_hex(4)}"
    layout, dialect, database = tables.schema.layout, tables.schema.dialect, tables.database
    if dialect == "postgresql":
        await execute(dialect, None, [f"CREATE ROLE {name} LOGIN"])
        grant = f'GRANT SELECT ON "{layout.sessions_table}", "{layout.users_table}" TO {name}'
        await execute(dialect, database, [grant])
        try:
            yield url(dialect, database, user=name)
        finally:
            await execute(dialect, database, [f"DROP OWNED BY {name}"])
            await execute(dialect, None, [f"DROP ROLE {name}"])
        return
    account = f"'{name}'@'127.0.0.1'"
    await execute(
        dialect,
        None,
        [
            f"CREATE USER {account}",
            f"GRANT SELECT ON `{database}`.`{layout.sessions_table}` TO {account}",
            f"GRANT SELECT ON `{database}`.`{layout.users_table}` TO {account}",
        ],
    )
    try:
        yield url(dialect, database, user=name)
    finally:
        await execute(dialect, None, [f"DROP USER {account}"])


async def add_in_schema(database: str, schema: str) -> tuple[str, str]:
    connection = await asyncpg.connect(
        url("postgresql", database), server_settings={"search_path": f'"{schema}"'}
    )
    try:
        user_id = await connection.fetchval(
            'INSERT INTO "User" (id, name, email, "updatedAt") VALUES ($1, $2, $3, now()) RETURNING id',
            "c" + secrets.token_hex(12),
            "Ada",
            "ada@example.com",
        )
        token = str(uuid.uuid4())
        await connection.execute(
            'INSERT INTO "Session" ("sessionToken", "userId", expires, "updatedAt") VALUES ($1, $2, $3, now())',
            token,
            user_id,
            (now() + IN_A_MONTH).replace(tzinfo=None),
        )
    finally:
        await connection.close()
    return str(user_id), token


class _Sessions(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=DatabaseSessionSettings)
    session = providers.Resource(DatabaseSession.from_settings, settings, version=5)


async def test_opens_and_closes_as_a_container_resource(databases: dict[str, AuthTables]) -> None:
    tables = databases["prisma/postgresql"]
    user_id = await tables.add_user("Ada", f"ada-{uuid.uuid4()}@example.com", None)
    token = await tables.add_session(user_id, now() + IN_A_MONTH)
    container = _Sessions(settings=settings_for(tables))
    await container.init_resources()  # type: ignore[misc]
    session = await container.session()  # type: ignore[misc]
    assert isinstance(session, DatabaseSession)
    assert (await session.current_user(cookie(token))) is not None
    await container.shutdown_resources()  # type: ignore[misc]
    with pytest.raises(SessionStoreUnavailable, match="stopping"):
        await session.current_user(cookie(token))


async def test_a_refused_password_is_reported_without_the_password(
    databases: dict[str, AuthTables], caplog: pytest.LogCaptureFixture
) -> None:
    tables = databases["drizzle/mysql"]
    wrong = Secret(tables.url.replace("root@", "root:hunter2-wrong@"))
    with pytest.raises(SessionStoreMisconfigured, match="refused the lookup") as refused:
        async with DatabaseSession.from_settings(settings_for(tables, database_url=wrong), 5):
            pass
    assert "hunter2" not in str(refused.value)
    assert "hunter2" not in caplog.text
