"""Short write transactions on the event loop's own thread, appends grouped per turn of the loop.

With WAL and ``synchronous=NORMAL`` a commit is a ``write()`` into the page cache: tens of
microseconds. Handing it to a thread costs more than that (a wake-up, the GIL passed back and
forth with the loop, a wake-up of the loop) and, under load, adds milliseconds of waiting for the
GIL to every request. So the loop writes itself, and only what could block it goes to the worker
thread: this connection never waits for a lock (``busy_timeout=0``; when another process holds the
write lock, the work is done by the thread, which may wait) and never checkpoints (a checkpoint
copies pages and syncs; the thread runs one after every ``checkpoint_every`` commits here). A
checkpoint runs twice: once while the loop goes on writing, then once more, short, with the loop's
writes queued behind it in the thread, so that it catches up and the next write starts the log
over. A loop that never paused would keep every checkpoint behind, and the log would only grow.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from adapters.sqlite_outbox.worker import GroupWriter, SqliteWorker, WorkerStopped

T = TypeVar("T")
Item = TypeVar("Item")

CHECKPOINT_EVERY = 200
"""Commits between checkpoints: a few pages each, so about SQLite's own 1,000-page default."""


def is_busy(error: sqlite3.Error) -> bool:
    """Another connection holds the lock this one needs."""
    return error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Busy:
    """What a grouped append comes to when the lock was taken: the caller goes to the thread."""


_BUSY = _Busy()


class InlineWriter(Generic[Item]):
    """Runs write transactions on the event loop, handing to ``fallback`` what would have to wait.

    ``write_group`` must let a busy error escape (the group is then retried by the thread, one
    append at a time) and be a single transaction, so that nothing of it is left when it fails.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        write_group: GroupWriter[Item],
        fallback: SqliteWorker[Item],
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self._connect = connect
        self._write_group = write_group
        self._fallback = fallback
        self._checkpoint_every = checkpoint_every
        self._connection: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[Item, asyncio.Future[Any]]] = []
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._catching_up = False

    async def open(self) -> None:
        """Open the connection (in a thread: creating the tables may wait for the lock)."""
        connection = await asyncio.to_thread(self._connect)
        connection.execute("PRAGMA busy_timeout = 0")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._connection = connection
        # Looked up once: ``asyncio.get_running_loop()`` makes a ``getpid()`` system call each time.
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """Write what is queued, let a running checkpoint finish, and close the connection."""
        if self._connection is None:
            return
        if self._pending:
            self._flush()
        if self._checkpoint is not None:
            await self._checkpoint
        self._connection.close()
        self._connection = None

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` run here, or in the thread when the lock is taken; it must be one transaction."""
        connection = self._open_connection()
        if self._catching_up:
            return await self._fallback.call(work)
        try:
            result = work(connection)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            return await self._fallback.call(work)
        self._committed()
        return result

    async def append(self, item: Item) -> object:
        """Write ``item`` with the other appends of this turn of the loop; returns its outcome."""
        loop = self._open_loop()
        if self._catching_up:
            return await self._fallback.append(item)
        future: asyncio.Future[object] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((item, future))
        outcome = await future
        if outcome is _BUSY:
            return await self._fallback.append(item)
        return outcome

    def _flush(self) -> None:
        group, self._pending = self._pending, []
        if not group:
            return
        if self._connection is None:
            outcomes: list[object] = [WorkerStopped("the outbox is not open")] * len(group)
        else:
            try:
                outcomes = self._write_group(self._connection, [item for item, _ in group])
            except sqlite3.OperationalError as error:
                outcomes = [_BUSY if is_busy(error) else error] * len(group)
            else:
                self._committed()
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.cancelled():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= self._checkpoint_every and self._checkpoint is None:
            self._commits = 0
            self._checkpoint = self._open_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            with contextlib.suppress(sqlite3.Error, WorkerStopped):  # the next one copies these pages too
                await self._fallback.call(_checkpoint)
                self._catching_up = True
                await self._fallback.call(_checkpoint)
        finally:
            self._catching_up = False
            self._checkpoint = None

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise WorkerStopped("the outbox is not open")
        return self._connection

    def _open_loop(self) -> asyncio.AbstractEventLoop:
        if self._connection is None or self._loop is None:
            raise WorkerStopped("the outbox is not open")
        return self._loop


def _checkpoint(connection: sqlite3.Connection) -> None:
    """Copy what it can of the WAL into the database, without waiting for readers or writers."""
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
