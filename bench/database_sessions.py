"""Lookups per second and CPU per lookup of ``DatabaseSession``, with its cache on and off.

Makes a throwaway database on the machine's PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB
(127.0.0.1:3306, root), with the tables of an Auth.js adapter (``--adapter``, Prisma's by default),
signs in ``--users`` users (4,096), then, in this one process on uvloop, asks ``current_user`` for
their cookies in turn from ``--concurrency`` tasks (32, as wrk's connections), each task starting
at its own share of the users, so a cookie comes back only after all the others: the sessions
scenario's pattern. Each configuration runs for ``--seconds`` in each of ``--rounds`` rounds, in a
rotating order, after a warm-up that is not measured (it fills the pool, and the cache when on);
the table shows medians, and the machine's load average before and after (others' work makes
every figure worse). The database is dropped at the end.

Measured: lookups/s; this process's CPU (user + system, ``time.process_time``) per lookup, which is
what a lookup costs the service; the database server's CPU per lookup (from ``/proc``: on
PostgreSQL the bench's own backends, on MariaDB the whole server, whoever else uses it); and the
share of lookups the database answered (1.0 with the cache off).

For ``make bench``'s ``database-sessions`` scenario, ``seeded_database`` makes and fills the
database and gives the service's settings and the users' cookies (``--cookies FILE`` writes them
one per line, as ``post.lua``'s ``BENCH_COOKIES_FILE`` wants them).

Run: ``.venv/bin/python bench/database_sessions.py [--dialects postgresql,mysql] [--seconds 5]``.
"""

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg
import uvloop
from adapters.nextauth_db import DatabaseSession, DatabaseSessionSettings
from adapters.nextauth_db.driver import Row
from adapters.nextauth_db.layouts import LAYOUTS, layout_from_settings, lookup_query
from adapters.nextauth_db.mysql import MySqlDriver
from adapters.nextauth_db.postgres import PostgresDriver
from adapters.nextauth_db.store import SessionStore
from adapters.secret import Secret
from application.ports import SessionCredentials

DIALECTS = ("postgresql", "mysql")
ADMIN_URLS = {"postgresql": "postgresql://postgres@127.0.0.1:5432", "mysql": "mysql://root@127.0.0.1:3306"}
SERVER_PROCESSES = {"postgresql": {"postgres"}, "mysql": {"mariadbd", "mysqld"}}
COOKIE = "next-auth.session-token"
"""next-auth v4's cookie, as the sessions scenario's cookies are v4's."""
CACHE_SECONDS = 5.0
"""The cache time of the cache-on runs: the service's default."""

# The two tables each adapter creates, reduced to the columns the lookup and the inserts touch.
TABLES = {
    ("prisma", "postgresql"): (
        'CREATE TABLE "User" (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE, image TEXT)',
        'CREATE TABLE "Session" ("sessionToken" TEXT NOT NULL UNIQUE, "userId" TEXT NOT NULL '
        'REFERENCES "User"(id), expires TIMESTAMP(3) NOT NULL)',
    ),
    ("prisma", "mysql"): (
        "CREATE TABLE `User` (id VARCHAR(191) PRIMARY KEY, name VARCHAR(191), email VARCHAR(191) UNIQUE, "
        "image VARCHAR(191)) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "CREATE TABLE `Session` (sessionToken VARCHAR(191) NOT NULL UNIQUE, userId VARCHAR(191) NOT NULL, "
        "expires DATETIME(3) NOT NULL) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    ),
    ("drizzle", "postgresql"): (
        'CREATE TABLE "user" (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE, image TEXT)',
        'CREATE TABLE "session" ("sessionToken" TEXT PRIMARY KEY, "userId" TEXT NOT NULL '
        'REFERENCES "user"(id), expires TIMESTAMP NOT NULL)',
    ),
    ("drizzle", "mysql"): (
        "CREATE TABLE `user` (id VARCHAR(255) PRIMARY KEY, name VARCHAR(255), email VARCHAR(255) UNIQUE, "
        "image VARCHAR(255))",
        "CREATE TABLE `session` (sessionToken VARCHAR(255) PRIMARY KEY, userId VARCHAR(255) NOT NULL, "
        "expires TIMESTAMP NOT NULL)",
    ),
}


@dataclass(frozen=True, slots=True)
class Seeded:
    """A database with ``users`` signed in: the service's settings for it, and their cookies."""

    environment: dict[str, str]
    cookies: list[str]
    server_pid: int | None = None
    """The database server's main process, when it runs on this machine (as the bench's databases
    do): the CPU it spends on the bench's requests is the bench's own work."""


@contextlib.contextmanager
def seeded_database(dialect: str, users: int, adapter: str = "prisma") -> Iterator[Seeded]:
    """A throwaway database with ``adapter``'s tables and ``users`` users signed in for 30 days;
    dropped on exit. ``environment`` sets the service's database sessions on it."""
    name = f"eventgate_bench_{secrets.token_hex(4)}"
    url = f"{ADMIN_URLS[dialect]}/{name}"
    tokens = [str(uuid.uuid4()) for _ in range(users)]
    try:
        asyncio.run(_create(dialect, name, adapter, tokens))
        yield Seeded(
            server_pid=asyncio.run(_server_pid(dialect)),
            environment={
                "EVENTGATE_NEXTAUTH_STRATEGY": "database",
                "EVENTGATE_NEXTAUTH_DATABASE_URL": url,
                "EVENTGATE_NEXTAUTH_ADAPTER": adapter,
            },
            cookies=[f"{COOKIE}={token}" for token in tokens],
        )
    finally:
        # WITH (FORCE): a run that failed may leave connections behind, which would keep the database.
        force = " WITH (FORCE)" if dialect == "postgresql" else ""
        asyncio.run(_admin(dialect, None, [f"DROP DATABASE IF EXISTS {name}{force}"]))


async def _create(dialect: str, name: str, adapter: str, tokens: Sequence[str]) -> None:
    await _admin(dialect, None, [f"CREATE DATABASE {name}"])
    layout = LAYOUTS[adapter]  # type: ignore[index]
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)).replace(tzinfo=None)
    users = [
        (f"bench-user-{n}", f"Bench User {n}", f"bench-{n}@example.com", None) for n in range(len(tokens))
    ]
    sessions = [(token, f"bench-user-{n}", expires) for n, token in enumerate(tokens)]

    def insert(table: str, count: int) -> str:
        if dialect == "postgresql":
            return f'INSERT INTO "{table}" VALUES ({", ".join(f"${n + 1}" for n in range(count))})'
        return f"INSERT INTO `{table}` VALUES ({', '.join(['%s'] * count)})"

    statements = list(TABLES[adapter, dialect])
    if dialect == "postgresql":
        connection = await asyncpg.connect(f"{ADMIN_URLS[dialect]}/{name}")
        try:
            for statement in statements:
                await connection.execute(statement)
            await connection.executemany(insert(layout.users_table, 4), users)
            await connection.executemany(insert(layout.sessions_table, 3), sessions)
            await connection.execute("ANALYZE")
        finally:
            await connection.close()
        return
    my = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="", database=name)
    try:
        async with my.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
            await cursor.executemany(insert(layout.users_table, 4), users)
            await cursor.executemany(insert(layout.sessions_table, 3), sessions)
        await my.commit()
    finally:
        my.close()


async def _server_pid(dialect: str) -> int | None:
    """The pid in the server's own pid file, which it names; ``None`` when that cannot be read here."""
    if dialect == "postgresql":
        connection = await asyncpg.connect(f"{ADMIN_URLS[dialect]}/postgres")
        try:
            pid_file = Path(await connection.fetchval("SHOW data_directory")) / "postmaster.pid"
        finally:
            await connection.close()
    else:
        my = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            async with my.cursor() as cursor:
                await cursor.execute("SELECT @@pid_file")
                (found,) = await cursor.fetchone()
        finally:
            my.close()
        pid_file = Path(found)
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


async def _admin(dialect: str, database: str | None, statements: Sequence[str]) -> None:
    if dialect == "postgresql":
        connection = await asyncpg.connect(f"{ADMIN_URLS[dialect]}/{database or 'postgres'}")
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()
        return
    my = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="", database=database)
    try:
        async with my.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        my.close()


class CountingStore:
    """The real store, counting the lookups that reach the database."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self._store = store
        self.fetches = 0

    async def fetch(self, token: str) -> Row | None:
        self.fetches += 1
        return await self._store.fetch(token)

    async def check(self) -> str | None:
        return await self._store.check()

    def close(self) -> None:
        self._store.close()


@dataclass(frozen=True, slots=True)
class Run:
    dialect: str
    cache: bool
    lookups: int
    seconds: float
    cpu_us: float
    server_cpu_us: float
    database_share: float

    @property
    def per_second(self) -> float:
        return self.lookups / self.seconds


async def server_pids(dialect: str, database: str) -> list[int]:
    """The processes doing the database server's work for the bench: on PostgreSQL, the backends of
    the bench's connections; MariaDB serves every connection from threads of one process, so there
    it is the whole server, whoever else uses it."""
    if dialect != "postgresql":
        return server_processes(dialect)
    connection = await asyncpg.connect(f"{ADMIN_URLS[dialect]}/{database}")
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'eventgate-sessions'",
            database,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


def server_processes(dialect: str) -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if _is_server(entry, dialect)]


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds so far of the processes, all threads, user and system."""
    ticks, seconds = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _is_server(entry: Path, dialect: str) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        return (entry / "comm").read_text().strip() in SERVER_PROCESSES[dialect]
    except OSError:
        return False


async def measure(
    dialect: str,
    settings: DatabaseSessionSettings,
    cookies: Sequence[str],
    *,
    concurrency: int,
    seconds: float,
) -> Run:
    layout = layout_from_settings(settings)
    query = lookup_query(layout, dialect)  # type: ignore[arg-type]
    url = settings.database_url
    driver: Any = (
        PostgresDriver(url, query, statement_timeout=settings.query_timeout)
        if dialect == "postgresql"
        else MySqlDriver(url, query)
    )
    store = CountingStore(SessionStore(driver, pool_size=settings.pool_size, deadline=settings.query_timeout))
    session = DatabaseSession(store, 4, cache_seconds=settings.session_cache)
    credentials = [SessionCredentials(cookies={COOKIE: cookie.split("=", 1)[1]}) for cookie in cookies]
    spacing = len(credentials) // concurrency
    async with session:
        await _load(session, credentials, concurrency, spacing, deadline=time.monotonic() + 1.0)
        store.fetches = 0
        pids = await server_pids(dialect, url.reveal().rsplit("/", 1)[1])
        server_before, cpu_before, started = cpu_seconds(pids), time.process_time(), time.monotonic()
        lookups = await _load(session, credentials, concurrency, spacing, deadline=started + seconds)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_before
        server = cpu_seconds(pids) - server_before
    return Run(
        dialect,
        bool(settings.session_cache),
        lookups,
        elapsed,
        cpu / lookups * 1e6,
        server / lookups * 1e6,
        store.fetches / lookups,
    )


async def _load(
    session: DatabaseSession,
    credentials: Sequence[SessionCredentials],
    concurrency: int,
    spacing: int,
    *,
    deadline: float,
) -> int:
    async def task(start: int) -> int:
        done, position = 0, start
        while time.monotonic() < deadline:
            if await session.current_user(credentials[position]) is None:
                raise RuntimeError("a bench user was not signed in")
            position = (position + 1) % len(credentials)
            done += 1
            # A cache hit never waits: without this one task would keep the loop, as no request can.
            await asyncio.sleep(0)
        return done

    return sum(await asyncio.gather(*(task(n * spacing) for n in range(concurrency))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialects", default=",".join(DIALECTS))
    parser.add_argument("--adapter", default="prisma", choices=["prisma", "drizzle"])
    parser.add_argument("--users", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="per run; longer than the cache time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cookies", type=Path, help="also write the users' cookies here, one per line")
    parser.add_argument("--json", type=Path, help="also write every run here")
    arguments = parser.parse_args(argv)
    runs: list[Run] = []
    load_before = os.getloadavg()[0]
    for dialect in arguments.dialects.split(","):
        with seeded_database(dialect, arguments.users, arguments.adapter) as seeded:
            if arguments.cookies is not None:
                arguments.cookies.write_text("\n".join(seeded.cookies) + "\n")
            base = DatabaseSessionSettings(
                strategy="database",
                database_url=Secret(seeded.environment["EVENTGATE_NEXTAUTH_DATABASE_URL"]),
                adapter=arguments.adapter,
                pool_size=arguments.pool_size,
            )
            caches = [0.0, CACHE_SECONDS]
            for round_number in range(arguments.rounds):
                for cache in caches[round_number % 2 :] + caches[: round_number % 2]:
                    settings = DatabaseSessionSettings(**{**_fields(base), "session_cache": cache})
                    run = uvloop.run(
                        measure(
                            dialect,
                            settings,
                            seeded.cookies,
                            concurrency=arguments.concurrency,
                            seconds=arguments.seconds,
                        )
                    )
                    runs.append(run)
    print_table(runs, arguments)
    print(
        f"load average (1 min) before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}, on {os.cpu_count()} cores"
    )
    if arguments.json is not None:
        arguments.json.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    return 0


def _fields(settings: DatabaseSessionSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__struct_fields__}


def print_table(runs: Sequence[Run], arguments: argparse.Namespace) -> None:
    print(
        f"DatabaseSession.current_user, {arguments.users:,} users in turn, {arguments.concurrency} tasks, "
        f"pool {arguments.pool_size}, {arguments.adapter} tables, {arguments.rounds} x {arguments.seconds:g} s "
        "(medians)"
    )
    header = f"{'database':<11} {'cache':<6} {'lookups/s':>10} {'CPU us/lookup':>14} {'db CPU us/lookup':>17} {'db share':>9}"
    print(header)
    print("-" * len(header))
    for dialect in dict.fromkeys(run.dialect for run in runs):
        for cache in (False, True):
            same = [run for run in runs if run.dialect == dialect and run.cache == cache]
            if not same:
                continue
            print(
                f"{dialect:<11} {'on' if cache else 'off':<6} "
                f"{statistics.median(run.per_second for run in same):>10,.0f} "
                f"{statistics.median(run.cpu_us for run in same):>14.1f} "
                f"{statistics.median(run.server_cpu_us for run in same):>17.1f} "
                f"{statistics.median(run.database_share for run in same):>9.3f}"
            )


if __name__ == "__main__":
    sys.exit(main())
