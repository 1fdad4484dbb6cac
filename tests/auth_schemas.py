"""The users and sessions tables of each Auth.js adapter, as its own schema creates them, and rows
written into them as the adapter writes them.

The DDL is the adapters' own: ``@auth/pg-adapter``'s ``schema.sql``; the SQL ``prisma migrate``
makes of Auth.js's documented Prisma schemas (``TIMESTAMP(3)``/``DATETIME(3)`` in UTC, cuid ids,
``updatedAt`` set by the client); what ``drizzle-kit`` generates for ``@auth/drizzle-adapter``'s
default tables; what Kysely compiles from the migration in Auth.js's Kysely guide. The interop
tests check the Drizzle and Kysely statements against those tools' own output.
"""

import asyncio
import datetime
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg

from adapters.nextauth_db import LAYOUTS, Layout
from tests.databases import Dialect, execute, mysql_connection, throwaway_databases, url

PG_ADAPTER = (
    'CREATE TABLE sessions ( id SERIAL, "userId" INTEGER NOT NULL, expires TIMESTAMPTZ NOT NULL, '
    '"sessionToken" VARCHAR(255) NOT NULL, PRIMARY KEY (id) )',
    'CREATE TABLE users ( id SERIAL, name VARCHAR(255), email VARCHAR(255), "emailVerified" TIMESTAMPTZ, '
    "image TEXT, PRIMARY KEY (id) )",
)

PRISMA_POSTGRESQL = (
    'CREATE TABLE "User" ( "id" TEXT NOT NULL, "name" TEXT, "email" TEXT NOT NULL, "emailVerified" TIMESTAMP(3), '
    '"image" TEXT, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" TIMESTAMP(3) NOT NULL, '
    'CONSTRAINT "User_pkey" PRIMARY KEY ("id") )',
    'CREATE TABLE "Session" ( "sessionToken" TEXT NOT NULL, "userId" TEXT NOT NULL, "expires" TIMESTAMP(3) NOT NULL, '
    '"createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" TIMESTAMP(3) NOT NULL )',
    'CREATE UNIQUE INDEX "User_email_key" ON "User"("email")',
    'CREATE UNIQUE INDEX "Session_sessionToken_key" ON "Session"("sessionToken")',
    'ALTER TABLE "Session" ADD CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") '
    "ON DELETE CASCADE ON UPDATE CASCADE",
)

PRISMA_MYSQL = (
    "CREATE TABLE `User` ( `id` VARCHAR(191) NOT NULL, `name` VARCHAR(191) NULL, `username` VARCHAR(191) NULL, "
    "`email` VARCHAR(191) NULL, `emailVerified` DATETIME(3) NULL, `image` VARCHAR(191) NULL, "
    "`createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), `updatedAt` DATETIME(3) NOT NULL, "
    "UNIQUE INDEX `User_username_key`(`username`), UNIQUE INDEX `User_email_key`(`email`), PRIMARY KEY (`id`) "
    ") DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE TABLE `Session` ( `id` VARCHAR(191) NOT NULL, `sessionToken` VARCHAR(191) NOT NULL, "
    "`userId` VARCHAR(191) NOT NULL, `expires` DATETIME(3) NOT NULL, "
    "`createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), `updatedAt` DATETIME(3) NOT NULL, "
    "UNIQUE INDEX `Session_sessionToken_key`(`sessionToken`), INDEX `Session_userId_idx`(`userId`), "
    "PRIMARY KEY (`id`) ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "ALTER TABLE `Session` ADD CONSTRAINT `Session_userId_fkey` FOREIGN KEY (`userId`) REFERENCES `User`(`id`) "
    "ON DELETE RESTRICT ON UPDATE CASCADE",
)

DRIZZLE_POSTGRESQL = (
    'CREATE TABLE "user" (\n\t"id" text PRIMARY KEY NOT NULL,\n\t"name" text,\n\t"email" text,\n'
    '\t"emailVerified" timestamp,\n\t"image" text,\n\tCONSTRAINT "user_email_unique" UNIQUE("email")\n);\n',
    'CREATE TABLE "session" (\n\t"sessionToken" text PRIMARY KEY NOT NULL,\n\t"userId" text NOT NULL,\n'
    '\t"expires" timestamp NOT NULL\n);\n',
    'ALTER TABLE "session" ADD CONSTRAINT "session_userId_user_id_fk" FOREIGN KEY ("userId") '
    'REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;',
)

DRIZZLE_MYSQL = (
    "CREATE TABLE `user` (\n\t`id` varchar(255) NOT NULL,\n\t`name` varchar(255),\n\t`email` varchar(255),\n"
    "\t`emailVerified` timestamp(3),\n\t`image` varchar(255),\n\tCONSTRAINT `user_id` PRIMARY KEY(`id`),\n"
    "\tCONSTRAINT `user_email_unique` UNIQUE(`email`)\n);\n",
    "CREATE TABLE `session` (\n\t`sessionToken` varchar(255) NOT NULL,\n\t`userId` varchar(255) NOT NULL,\n"
    "\t`expires` timestamp NOT NULL,\n\tCONSTRAINT `session_sessionToken` PRIMARY KEY(`sessionToken`)\n);\n",
    "ALTER TABLE `session` ADD CONSTRAINT `session_userId_user_id_fk` FOREIGN KEY (`userId`) "
    "REFERENCES `user`(`id`) ON DELETE cascade ON UPDATE no action;",
)

KYSELY_POSTGRESQL = (
    'create table "User" ("id" uuid default gen_random_uuid() primary key, "name" text, '
    '"email" text not null unique, "emailVerified" timestamptz, "image" text)',
    'create table "Session" ("id" uuid default gen_random_uuid() primary key, '
    '"userId" uuid not null references "User" ("id") on delete cascade, '
    '"sessionToken" text not null unique, "expires" timestamptz not null)',
    'create index "Session_userId_index" on "Session" ("userId")',
)


def cuid() -> str:
    """An id shaped as Prisma's ``cuid()`` makes them: ``c`` and 24 lower-case base-36 characters."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "c" + "".join(secrets.choice(alphabet) for _ in range(24))


@dataclass(frozen=True)
class AdapterSchema:
    """One adapter's tables on one database, and the statements its client runs on them.

    ``add_user`` takes the new id, then name, email and image, and returns the id; ``new_user_id``
    makes the id as the adapter does, or is ``None`` when the database makes it (``SERIAL``), and
    ``add_user`` then takes no id. ``add_session`` takes the token, the user id and the expiry;
    ``delete_session`` (the adapter's ``deleteSession``) and ``find_session`` the token.
    """

    name: str
    dialect: Dialect
    ddl: tuple[str, ...]
    new_user_id: Callable[[], str] | None
    add_user: str
    add_session: str
    delete_session: str

    @property
    def find_session(self) -> str:
        """The session row of a token, every column."""
        return self.delete_session.replace("DELETE FROM", "SELECT * FROM", 1)

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.name]  # type: ignore[index]


def _uuid() -> str:
    return str(uuid.uuid4())


SCHEMAS = {
    schema.name + "/" + schema.dialect: schema
    for schema in (
        AdapterSchema(
            "pg",
            "postgresql",
            PG_ADAPTER,
            None,
            "INSERT INTO users (name, email, image) VALUES ($1, $2, $3) RETURNING id",
            'INSERT INTO sessions ("sessionToken", "userId", expires) VALUES ($1, $2, $3)',
            'DELETE FROM sessions WHERE "sessionToken" = $1',
        ),
        AdapterSchema(
            "prisma",
            "postgresql",
            PRISMA_POSTGRESQL,
            cuid,
            'INSERT INTO "User" ("id", "name", "email", "image", "updatedAt") '
            "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP) RETURNING id",
            'INSERT INTO "Session" ("sessionToken", "userId", "expires", "updatedAt") '
            "VALUES ($1, $2, $3, CURRENT_TIMESTAMP)",
            'DELETE FROM "Session" WHERE "sessionToken" = $1',
        ),
        AdapterSchema(
            "prisma",
            "mysql",
            PRISMA_MYSQL,
            cuid,
            "INSERT INTO `User` (`id`, `name`, `email`, `image`, `updatedAt`) "
            "VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP(3))",
            "INSERT INTO `Session` (`id`, `sessionToken`, `userId`, `expires`, `updatedAt`) "
            "VALUES (UUID(), %s, %s, %s, CURRENT_TIMESTAMP(3))",
            "DELETE FROM `Session` WHERE `sessionToken` = %s",
        ),
        AdapterSchema(
            "drizzle",
            "postgresql",
            DRIZZLE_POSTGRESQL,
            _uuid,
            'INSERT INTO "user" ("id", "name", "email", "image") VALUES ($1, $2, $3, $4) RETURNING id',
            'INSERT INTO "session" ("sessionToken", "userId", "expires") VALUES ($1, $2, $3)',
            'DELETE FROM "session" WHERE "sessionToken" = $1',
        ),
        AdapterSchema(
            "drizzle",
            "mysql",
            DRIZZLE_MYSQL,
            _uuid,
            "INSERT INTO `user` (`id`, `name`, `email`, `image`) VALUES (%s, %s, %s, %s)",
            "INSERT INTO `session` (`sessionToken`, `userId`, `expires`) VALUES (%s, %s, %s)",
            "DELETE FROM `session` WHERE `sessionToken` = %s",
        ),
        AdapterSchema(
            "kysely",
            "postgresql",
            KYSELY_POSTGRESQL,
            _uuid,
            'INSERT INTO "User" ("id", "name", "email", "image") VALUES ($1, $2, $3, $4) RETURNING id',
            'INSERT INTO "Session" ("sessionToken", "userId", "expires") VALUES ($1, $2, $3)',
            'DELETE FROM "Session" WHERE "sessionToken" = $1',
        ),
    )
}
"""Each adapter on each database it has a default schema for, by ``<adapter>/<dialect>``."""


def as_written(schema: AdapterSchema, expires: datetime.datetime) -> datetime.datetime:
    """``expires`` as the adapter's driver hands it to the database: an instant for a column with a
    time zone; for one without, the UTC time, without zone (drizzle-orm and Prisma write UTC)."""
    utc = expires.astimezone(datetime.UTC)
    if schema.name in {"pg", "kysely"}:
        return utc
    return utc.replace(tzinfo=None)


class AuthTables:
    """One adapter's tables in ``database``, created by ``create``; writes rows as the adapter does."""

    def __init__(self, schema: AdapterSchema, database: str) -> None:
        self.schema = schema
        self.database = database

    @property
    def url(self) -> str:
        return url(self.schema.dialect, self.database)

    async def create(self) -> None:
        await execute(self.schema.dialect, self.database, list(self.schema.ddl))

    async def add_user(self, name: str | None, email: str | None, image: str | None) -> str:
        """A new user's id, as the adapter's ``createUser`` makes it; the id as the library spells it."""
        parameters: list[object] = [name, email, image]
        if self.schema.new_user_id is not None:
            parameters.insert(0, self.schema.new_user_id())
        if self.schema.dialect == "postgresql":
            return str(await self._pg_value(self.schema.add_user, parameters))
        await self._my_execute(self.schema.add_user, parameters)
        return str(parameters[0])

    async def add_session(self, user_id: str, expires: datetime.datetime, token: str | None = None) -> str:
        """A new session of the user, as ``createSession`` makes it; its token (a UUID unless given)."""
        token = str(uuid.uuid4()) if token is None else token
        stored_id: object = int(user_id) if self.schema.name == "pg" else user_id
        if self.schema.name == "kysely":
            stored_id = uuid.UUID(user_id)
        parameters = [token, stored_id, as_written(self.schema, expires)]
        if self.schema.dialect == "postgresql":
            await self._pg_value(self.schema.add_session, parameters)
        else:
            await self._my_execute(self.schema.add_session, parameters)
        return token

    async def delete_session(self, token: str) -> None:
        """What sign-out does: the adapter's ``deleteSession``."""
        if self.schema.dialect == "postgresql":
            await self._pg_value(self.schema.delete_session, [token])
        else:
            await self._my_execute(self.schema.delete_session, [token])

    async def _pg_value(self, sql: str, parameters: list[object]) -> object:
        connection = await asyncpg.connect(self.url)
        try:
            return await connection.fetchval(sql, *parameters)
        finally:
            await connection.close()

    async def _my_execute(self, sql: str, parameters: list[object]) -> None:
        connection = await mysql_connection(self.database)
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql, parameters)
        finally:
            connection.close()


@contextmanager
def every_adapter_schema(prefix: str) -> Iterator[dict[str, AuthTables]]:
    """Each of ``SCHEMAS`` created in a throwaway database of its own, by the same key; dropped on exit.
    For fixtures outside an event loop."""
    keys = {
        dialect: [key for key, schema in SCHEMAS.items() if schema.dialect == dialect] for dialect in DIALECTS
    }
    with (
        throwaway_databases("postgresql", prefix, len(keys["postgresql"])) as pg,
        throwaway_databases("mysql", prefix, len(keys["mysql"])) as my,
    ):
        named = [*zip(keys["postgresql"], pg, strict=True), *zip(keys["mysql"], my, strict=True)]
        tables = {key: AuthTables(SCHEMAS[key], database) for key, database in named}
        for each in tables.values():
            asyncio.run(each.create())
        yield tables


DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql")
