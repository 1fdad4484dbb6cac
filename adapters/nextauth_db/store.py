"""The session store: one prepared lookup per call, on a pooled connection, within one deadline.

When the lookup gets no answer (the database is unreachable, the deadline passes, no connection
comes free, or the server fails the statement), the store raises ``SessionStoreUnavailable``:
whether anyone is signed in is then unknown, which is not the same as nobody. It logs a warning at
the first failure, then at most once every ``warn_every`` seconds with the number of lookups that
failed since, and one line when the database answers again.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from adapters.nextauth_db.driver import Driver, Failure, Row
from adapters.nextauth_db.errors import SessionStoreMisconfigured
from adapters.nextauth_db.pool import Attempt, ConnectionPool, PoolClosed
from domain.errors import SessionStoreUnavailable

logger = logging.getLogger("adapters.nextauth_db")

C = TypeVar("C")

BUSY_RETRY_AFTER = 1.0
"""What a client is told to wait when every connection was busy: the next one may well not be."""
DOWN_RETRY_AFTER = 5.0
"""What a client is told to wait when the database did not answer or failed the lookup."""
PROBE_TOKEN = ""
"""Looked up by the readiness probe: no library makes an empty token, so it finds nothing, but the
lookup still needs the connection, both tables, every column and the grants."""
ANSWERED_RECENTLY = 5.0
"""Seconds after a lookup answered during which the readiness probe takes that for its answer: a
busy service is not slowed down by its probes, nor found unready because its pool is busy."""


class SessionStore(Generic[C]):
    """Looks sessions up through ``driver``, with at most ``pool_size`` connections.

    ``deadline`` bounds a whole lookup in seconds: waiting for a free connection, connecting, and
    the query. A connection reused from the pool that turns out to be broken (the server ended it
    since, as a restart does) is dropped and the lookup tried again, within the same deadline.
    """

    def __init__(
        self,
        driver: Driver[C],
        *,
        pool_size: int,
        deadline: float,
        warn_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._driver = driver
        self._deadline = deadline
        self._pool = ConnectionPool(
            driver.connect, is_open=driver.is_open, close=driver.close, max_size=pool_size
        )
        self._warn_every = warn_every
        self._clock = clock
        self._failing = False
        self._answered_at = float("-inf")
        self._next_warning_at = float("-inf")
        self._failures = 0
        """Lookups that failed since the last log line."""

    @property
    def connections(self) -> int:
        """Connections open now, idle or busy."""
        return self._pool.size

    async def fetch(self, token: str) -> Row | None:
        """The session row for ``token``, or ``None``; ``SessionStoreUnavailable`` without an answer."""
        try:
            row = await self._fetch(token)
        except _NoAnswer as no_answer:
            self._failed(no_answer)
            raise no_answer.unavailable from None
        self._answered()
        return row

    async def check(self) -> str | None:
        """``None`` when a lookup works now; otherwise why not, in words safe to show anyone.

        A lookup that answered in the last ``ANSWERED_RECENTLY`` seconds, none having failed since,
        is answer enough; otherwise one is made. ``SessionStoreMisconfigured`` when the database
        refuses it for good: wrong credentials, database, table, column or grant.
        """
        if not self._failing and self._clock() - self._answered_at < ANSWERED_RECENTLY:
            return None
        try:
            await self._fetch(PROBE_TOKEN)
        except _NoAnswer as no_answer:
            failure = no_answer.failure
            reason = no_answer.unavailable.reason
            if failure is not None and failure.kind == "refused":
                raise SessionStoreMisconfigured(f"{reason}: {failure.detail}", reason) from None
            return reason
        self._answered()
        return None

    def close(self) -> None:
        """Close the idle connections now, the others as their lookups end; later lookups fail."""
        self._pool.close()

    async def _fetch(self, token: str) -> Row | None:
        attempt = Attempt()
        try:
            async with asyncio.timeout(self._deadline):
                while True:
                    try:
                        return await self._query(token, attempt)
                    except _Broken:
                        # A connection from the pool that the server had closed; it is gone now, try again.
                        continue
        except TimeoutError:
            raise self._timed_out(attempt.phase) from None
        except PoolClosed:
            raise _NoAnswer(SessionStoreUnavailable("eventgate is stopping", BUSY_RETRY_AFTER)) from None

    async def _query(self, token: str, attempt: Attempt) -> Row | None:
        attempt.phase = "waiting"
        try:
            connection = await self._pool.acquire(attempt)
        except PoolClosed:
            raise
        except Exception as error:
            failure = self._driver.classify(error)
            if failure is None:
                raise
            raise _NoAnswer(_unavailable(failure), failure) from error
        reused = attempt.phase == "waiting"
        attempt.phase = "querying"
        try:
            row = await self._driver.lookup(connection, token)
        except BaseException as error:
            self._pool.discard(connection)
            failure = self._driver.classify(error) if isinstance(error, Exception) else None
            if failure is None:
                raise
            if reused and failure.kind == "unreachable":
                raise _Broken from error
            raise _NoAnswer(_unavailable(failure), failure) from error
        self._pool.release(connection)
        return row

    def _timed_out(self, phase: str) -> "_NoAnswer":
        if phase == "waiting":
            reason = f"no connection to the session database came free within {self._deadline:g} s"
            return _NoAnswer(SessionStoreUnavailable(reason, BUSY_RETRY_AFTER))
        if phase == "connecting":
            reason = f"the session database did not accept a connection within {self._deadline:g} s"
        else:
            reason = f"the session database did not answer within {self._deadline:g} s"
        return _NoAnswer(SessionStoreUnavailable(reason, DOWN_RETRY_AFTER))

    def _failed(self, no_answer: "_NoAnswer") -> None:
        self._failures += 1
        now = self._clock()
        self._failing = True
        if now < self._next_warning_at:
            return
        self._next_warning_at = now + self._warn_every
        failure = no_answer.failure
        detail = "" if failure is None else f" ({_code(failure)}: {failure.detail})"
        logger.warning(
            "session lookups fail: %s%s; %d failed since the last warning",
            no_answer.unavailable.reason,
            detail,
            self._failures,
        )
        self._failures = 0

    def _answered(self) -> None:
        self._answered_at = self._clock()
        if self._failing:
            self._recovered()

    def _recovered(self) -> None:
        self._failing = False
        self._next_warning_at = float("-inf")
        logger.info(
            "the session database answers again; %d lookups failed since the last warning", self._failures
        )
        self._failures = 0


class _NoAnswer(Exception):
    """A lookup without an answer: what to tell the client, and the database's failure if there was one."""

    def __init__(self, unavailable: SessionStoreUnavailable, failure: Failure | None = None) -> None:
        super().__init__(unavailable.reason)
        self.unavailable = unavailable
        self.failure = failure


class _Broken(Exception):
    """A connection reused from the pool was found broken."""


def _unavailable(failure: Failure) -> SessionStoreUnavailable:
    if failure.kind == "unreachable":
        return SessionStoreUnavailable("the session database is unreachable", DOWN_RETRY_AFTER)
    if failure.kind == "refused":
        reason = f"the session database refused the lookup ({_code(failure)})"
    else:
        reason = f"the session database failed the lookup ({_code(failure)})"
    return SessionStoreUnavailable(reason, DOWN_RETRY_AFTER)


def _code(failure: Failure) -> str:
    return f"error {failure.code}" if failure.code else "no error code"
