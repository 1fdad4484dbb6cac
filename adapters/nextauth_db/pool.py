"""A small pool of database connections: at most ``max_size``, opened when needed, reused newest first.

The drivers' own pools cost more than the lookup itself (asyncpg's adds about 60 µs of CPU to a
20 µs query), and a lookup needs none of what they offer: it runs one prepared statement, outside
any transaction, and never changes a connection's state. So this pool only hands connections out
and takes them back. A connection that failed in any way is closed rather than given back, so none
is ever reused in a state nobody knows. Waiting is bounded by the caller's deadline: cancelling an
``acquire`` leaves the pool as it was.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

C = TypeVar("C")

Phase = Literal["waiting", "connecting", "querying"]


class PoolClosed(Exception):
    """The pool was closed: nothing more is handed out."""


class Attempt:
    """What one lookup is doing now, so that a deadline can say where it ran out."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase: Phase = "waiting"


class ConnectionPool(Generic[C]):
    """``connect`` opens a connection, ``is_open`` tells whether one still is, ``close`` drops one at once."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        *,
        is_open: Callable[[C], bool],
        close: Callable[[C], None],
        max_size: int,
    ) -> None:
        if max_size < 1:
            raise ValueError("a pool needs room for one connection at least")
        self._connect = connect
        self._is_open = is_open
        self._close = close
        self._max_size = max_size
        self._size = 0
        """Connections open or being opened, idle or not."""
        self._idle: list[C] = []
        self._waiters: deque[asyncio.Future[C | None]] = deque()
        """Each is given a connection, or ``None``: room to open one may have come free."""
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def acquire(self, attempt: Attempt) -> C:
        """An open connection: an idle one, a new one if there is room, or the next one given back."""
        while True:
            if self._closed:
                raise PoolClosed("the session database pool is closed")
            while self._idle:
                connection = self._idle.pop()
                if self._is_open(connection):
                    return connection
                self._drop(connection)
            if self._size < self._max_size:
                return await self._open(attempt)
            given = await self._wait()
            if given is not None:
                return given

    def release(self, connection: C) -> None:
        """Give back a connection that answered its last query in full."""
        if self._closed or not self._is_open(connection):
            self.discard(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def discard(self, connection: C) -> None:
        """Close a connection that failed, or was interrupted, and make room for another."""
        self._drop(connection)
        self._wake_one()

    def close(self) -> None:
        """Close the idle connections now and every other one as it is given back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._drop(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _open(self, attempt: Attempt) -> C:
        self._size += 1
        attempt.phase = "connecting"
        try:
            return await self._connect()
        except BaseException:
            self._size -= 1
            self._wake_one()
            raise

    async def _wait(self) -> C | None:
        waiter: asyncio.Future[C | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Given a connection, or room, just as this acquire was given up: pass it on.
                given = waiter.result()
                if given is None:
                    self._wake_one()
                else:
                    self.release(given)
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def _drop(self, connection: C) -> None:
        self._size -= 1
        self._close(connection)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
