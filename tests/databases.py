"""Throwaway databases on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust) and MariaDB
(127.0.0.1:3306, root without a password): each made with a random name and dropped afterwards."""

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal, TypeAlias

import asyncmy
import asyncpg

Dialect: TypeAlias = Literal["postgresql", "mysql"]

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_HOST, MYSQL_PORT, MYSQL_ADMIN = "127.0.0.1", 3306, "root"
PORTS = {"postgresql": 5432, "mysql": MYSQL_PORT}


def url(dialect: Dialect, database: str, *, user: str | None = None, port: int | None = None) -> str:
    """The URL of ``database`` for the administrator, or for ``user`` (who has no password)."""
    port = PORTS[dialect] if port is None else port
    if dialect == "postgresql":
        return f"postgresql://{user or 'postgres'}@127.0.0.1:{port}/{database}"
    return f"mysql://{user or MYSQL_ADMIN}@127.0.0.1:{port}/{database}"


@contextmanager
def throwaway_databases(dialect: Dialect, prefix: str, count: int = 1) -> Iterator[list[str]]:
    """``count`` new, empty databases, dropped on exit; their names start with ``prefix``. For
    fixtures outside an event loop; a test inside one uses ``throwaway_database``."""
    names = [f"{prefix}_{secrets.token_hex(4)}_{index}" for index in range(count)]
    try:
        run_admin(dialect, [f"CREATE DATABASE {name}" for name in names])
        yield names
    finally:
        run_admin(dialect, [drop_database(dialect, name) for name in names])


@asynccontextmanager
async def throwaway_database(dialect: Dialect, prefix: str) -> AsyncIterator[str]:
    """A new, empty database, dropped on exit; its name starts with ``prefix``."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        await execute(dialect, None, [f"CREATE DATABASE {name}"])
        yield name
    finally:
        await execute(dialect, None, [drop_database(dialect, name)])


def drop_database(dialect: Dialect, name: str) -> str:
    """The statement that drops ``name``; on PostgreSQL ending its connections, which would keep it."""
    if dialect == "postgresql":
        return f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    return f"DROP DATABASE IF EXISTS {name}"


def run_admin(dialect: Dialect, statements: list[str], database: str | None = None) -> None:
    """Run ``statements`` as the administrator, in ``database`` or none; for fixtures outside an event loop."""
    asyncio.run(execute(dialect, database, statements))


async def execute(dialect: Dialect, database: str | None, statements: list[str]) -> None:
    """Run ``statements`` one by one as the administrator, each committed."""
    if dialect == "postgresql":
        connection = await asyncpg.connect(POSTGRES_ADMIN if database is None else url(dialect, database))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()
        return
    my = await mysql_connection(database)
    try:
        async with my.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        my.close()


async def mysql_connection(database: str | None) -> asyncmy.Connection:
    arguments: dict[str, Any] = {"host": MYSQL_HOST, "port": MYSQL_PORT, "user": MYSQL_ADMIN, "password": ""}
    connection: asyncmy.Connection = await asyncmy.connect(**arguments, database=database, autocommit=True)
    return connection
