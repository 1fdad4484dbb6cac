"""The outbox's tables in their own PostgreSQL schema, and the migrations that bring them up to date.

Every start migrates under a transaction-level advisory lock, so that any number of instances
starting at once take turns: the first creates the tables, the others find them at the latest
version. A database written by a newer eventgate is refused rather than written to.
"""

import asyncpg

SCHEMA_VERSION = 2

TOTALS_SLOTS = 16
"""Rows the undelivered totals are spread over: concurrent writers update different rows, rather than
all waiting for one row's lock until each commits."""


def lock_key(text: str) -> str:
    """SQL for a 64-bit advisory lock key derived from the SQL text expression ``text``."""
    return f"('x' || substr(md5({text}), 1, 16))::bit(64)::bigint"


def _migrations(schema: str) -> list[str]:
    """Each version's statements, in order; a version once released is never edited, only added to.

    The outbox's pages are left half empty (``fillfactor``): a claim rewrites each row with its lease,
    and a row that fits on its own page is rewritten there without touching the indexes (a HOT
    update), which doubled the relay's drain when measured.

    ``outbox_owners`` (version 2) names the owners that hold their lock, so that finding the dead ones
    takes a look at a few rows rather than at every pending event's lease.
    """
    return [
        f"""
        CREATE TABLE {schema}.outbox (
            seq          bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id           text     NOT NULL UNIQUE,
            request_hash bytea    NOT NULL,
            body         bytea,
            size         integer  NOT NULL,
            state        text     NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
            accepted_at  bigint   NOT NULL,
            attempts     integer  NOT NULL DEFAULT 0,
            not_before   bigint   NOT NULL,
            lease_owner  text,
            lease_until  bigint   NOT NULL DEFAULT 0,
            last_error   text,
            failed_at    bigint,
            finished_at  bigint
        ) WITH (fillfactor = 50);
        CREATE INDEX outbox_pending ON {schema}.outbox (seq) WHERE state = 'pending';
        CREATE INDEX outbox_delivered ON {schema}.outbox (finished_at) WHERE state = 'delivered';
        CREATE INDEX outbox_failed ON {schema}.outbox (failed_at) WHERE state != 'delivered';
        CREATE TABLE {schema}.outbox_totals (
            slot   integer PRIMARY KEY,
            events bigint  NOT NULL DEFAULT 0,
            bytes  bigint  NOT NULL DEFAULT 0
        );
        INSERT INTO {schema}.outbox_totals (slot) SELECT generate_series(0, {TOTALS_SLOTS - 1});
        CREATE TABLE {schema}.outbox_heartbeat (singleton integer PRIMARY KEY CHECK (singleton = 1), at bigint);
        INSERT INTO {schema}.outbox_heartbeat VALUES (1, 0);
        """,
        f"CREATE TABLE {schema}.outbox_owners (owner text PRIMARY KEY);",
    ]


class SchemaTooNew(Exception):
    """The outbox's tables were written by a newer eventgate than this one."""


async def migrate(connection: asyncpg.Connection, schema: str) -> int:
    """Bring ``schema`` up to ``SCHEMA_VERSION``; returns the version it was at (0: it was created)."""
    migrations = _migrations(schema)
    if await _version(connection, schema) == SCHEMA_VERSION:
        return SCHEMA_VERSION  # no lock and no DDL: a role without the right to create may run eventgate
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(" + lock_key("$1") + ")", f"{schema}/migrate")
        await connection.execute(
            f"CREATE SCHEMA IF NOT EXISTS {schema};"
            f" CREATE TABLE IF NOT EXISTS {schema}.schema_version (version integer NOT NULL);"
        )
        version = await _version(connection, schema)
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the outbox schema {schema} was written by a newer eventgate (version {version}, this one "
                f"knows {SCHEMA_VERSION})"
            )
        for statements in migrations[version:]:
            await connection.execute(statements)
        if version < SCHEMA_VERSION:
            await connection.execute(f"DELETE FROM {schema}.schema_version")
            await connection.execute(f"INSERT INTO {schema}.schema_version VALUES ({SCHEMA_VERSION})")
    return version


async def _version(connection: asyncpg.Connection, schema: str) -> int:
    """The schema's version; 0 when it has no tables yet."""
    if await connection.fetchval("SELECT to_regclass($1)", f"{schema}.schema_version") is None:
        return 0
    found = await connection.fetchval(f"SELECT max(version) FROM {schema}.schema_version")
    return 0 if found is None else int(found)
