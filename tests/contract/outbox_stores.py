"""Each outbox store under the contract: SQLite in a fresh file, PostgreSQL in a fresh schema.

``Stores`` opens stores of one kind that share one place (file or schema), all on one manual
clock, and closes each at the end; ``body`` reads a row's stored body beside them, as an operator would.
"""

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import asyncpg

from adapters.postgres_outbox.store import PostgresOutboxStore
from adapters.sqlite_outbox.store import SqliteOutboxStore
from tests.fakes import ManualMillisecondClock
from tests.postgres_cluster import SHARED_URL, fresh_schema

StoreKind = Literal["sqlite", "postgresql"]
STORE_KINDS: tuple[StoreKind, ...] = ("sqlite", "postgresql")

Store = SqliteOutboxStore | PostgresOutboxStore


class Stores:
    def __init__(self, kind: StoreKind, path: Path, schema: str, clock: ManualMillisecondClock) -> None:
        self.kind = kind
        self.path = path
        self.schema = schema
        self.clock = clock
        self.opened: list[Store] = []

    async def __call__(self, **options: Any) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = SqliteOutboxStore(self.path, clock_ms=self.clock, **options)
        else:
            store = PostgresOutboxStore(SHARED_URL, schema=self.schema, clock_ms=self.clock, **options)
        await store.open()
        self.opened.append(store)
        return store

    async def body(self, event_id: str) -> bytes | None:
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path)) as reader:
                row = reader.execute(
                    "SELECT body FROM outbox WHERE id = ?1 UNION ALL SELECT body FROM outbox_delivered WHERE id = ?1",
                    (event_id,),
                ).fetchone()
            body: bytes | None = row[0] or None
            return body
        connection = await asyncpg.connect(SHARED_URL)
        try:
            found: bytes | None = await connection.fetchval(
                f"SELECT body FROM {self.schema}.outbox WHERE id = $1",  # noqa: S608
                event_id,
            )
        finally:
            await connection.close()
        return found


@contextlib.asynccontextmanager
async def opened_stores(
    kind: StoreKind, folder: Path, clock: ManualMillisecondClock
) -> AsyncIterator[Stores]:
    async with fresh_schema() as schema:
        stores = Stores(kind, folder / "outbox.sqlite3", schema, clock)
        try:
            yield stores
        finally:
            for store in stores.opened:
                await store.close()
