"""One connection of the outbox's own, kept open: it holds the owners' advisory locks and listens.

A session-level advisory lock lives exactly as long as its connection: when the process dies,
PostgreSQL drops the connection and the lock with it, and another relay taking the lock knows
the owner is dead. Each owner is named in ``outbox_owners`` once its lock is taken, for the relays
that look for dead owners. The same connection LISTENs for appends made by other instances. Should the
connection break, it is opened again (the locks taken again, the listening resumed) a second later.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from adapters.postgres_outbox.schema import lock_key

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class OwnerSession:
    """``connect`` opens a connection; ``owners`` are locked on it as ``{schema}/{owner}``."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        *,
        schema: str,
        channel: str,
        on_notify: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._schema = schema
        self._channel = channel
        self._on_notify = on_notify
        self._owners: list[str] = []
        self._connection: asyncpg.Connection | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def open(self) -> None:
        """Open the connection and listen; raises what connecting raises."""
        await self._reopen()
        self._keeper = asyncio.get_running_loop().create_task(self._keep_open())

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), RECONNECT_SECONDS)
            self._connection = None

    async def hold(self, owner: str) -> None:
        """Lock ``owner`` now (and again after every reconnection) until the session closes."""
        self._owners.append(owner)
        if self._connection is not None and not self._connection.is_closed():
            await self._lock(self._connection, owner)

    async def _keep_open(self) -> None:
        while True:
            await self._lost.wait()
            await asyncio.sleep(RECONNECT_SECONDS)
            try:
                await self._reopen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                logger.warning("the outbox's owner connection could not be opened again (%s)", error)

    async def _reopen(self) -> None:
        self._lost.clear()
        if self._connection is not None:
            self._connection.terminate()
        connection = await self._connect()
        try:
            for owner in self._owners:
                await self._lock(connection, owner)
            await connection.add_listener(self._channel, self._notified)
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._terminated)
        self._connection = connection
        self._on_notify()  # appends made while no one listened are claimable now

    async def _lock(self, connection: asyncpg.Connection, owner: str) -> None:
        await connection.execute("SELECT pg_advisory_lock(" + lock_key("$1") + ")", f"{self._schema}/{owner}")
        await connection.execute(
            f"INSERT INTO {self._schema}.outbox_owners VALUES ($1) ON CONFLICT DO NOTHING", owner
        )

    def _notified(self, *_: object) -> None:
        self._on_notify()

    def _terminated(self, _: object) -> None:
        self._lost.set()
