"""SessionStore and its pool on a hand-written driver: deadlines, failures, pooling, and what is logged."""

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from adapters.nextauth_db.driver import Failure, FailureKind, Row
from adapters.nextauth_db.errors import SessionStoreMisconfigured
from adapters.nextauth_db.layouts import Dialect
from adapters.nextauth_db.pool import Attempt, ConnectionPool
from adapters.nextauth_db.store import BUSY_RETRY_AFTER, DOWN_RETRY_AFTER, PROBE_TOKEN, SessionStore
from domain.errors import SessionStoreUnavailable

pytestmark = pytest.mark.anyio

DEADLINE = 0.05
ROW: Row = (None, "u-1", "Ada", None, None)
FOREVER = 3600


class FakeDatabaseError(Exception):
    def __init__(self, kind: FailureKind, code: str = "") -> None:
        super().__init__(f"{kind} {code}".strip())
        self.kind: FailureKind = kind
        self.code = code


@dataclass(eq=False)
class FakeConnection:
    number: int
    open: bool = True


@dataclass
class FakeDriver:
    """Connections that answer ``rows``; a test makes connecting or looking up fail or hang."""

    rows: dict[str, Row] = field(default_factory=lambda: {"token": ROW})
    connect_fails: FakeDatabaseError | None = None
    connect_hangs: bool = False
    lookup_fails: list[FakeDatabaseError | Exception] = field(default_factory=list)
    lookup_hangs: bool = False
    lookup_gate: asyncio.Event | None = None
    opened: list[FakeConnection] = field(default_factory=list)
    used: list[int] = field(default_factory=list)

    @property
    def dialect(self) -> Dialect:
        return "postgresql"

    async def connect(self) -> FakeConnection:
        if self.connect_hangs:
            await asyncio.sleep(FOREVER)
        if self.connect_fails is not None:
            raise self.connect_fails
        connection = FakeConnection(len(self.opened))
        self.opened.append(connection)
        return connection

    async def lookup(self, connection: FakeConnection, token: str) -> Row | None:
        self.used.append(connection.number)
        if self.lookup_gate is not None:
            await self.lookup_gate.wait()
        if self.lookup_hangs:
            await asyncio.sleep(FOREVER)
        if self.lookup_fails:
            raise self.lookup_fails.pop(0)
        return self.rows.get(token)

    def is_open(self, connection: FakeConnection) -> bool:
        return connection.open

    def close(self, connection: FakeConnection) -> None:
        connection.open = False

    def classify(self, error: Exception) -> Failure | None:
        if isinstance(error, FakeDatabaseError):
            return Failure(error.kind, error.code, str(error))
        return None

    @property
    def open_connections(self) -> int:
        return sum(connection.open for connection in self.opened)


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store_over(
    driver: FakeDriver, *, pool_size: int = 2, clock: ManualClock | None = None
) -> SessionStore[FakeConnection]:
    return SessionStore(driver, pool_size=pool_size, deadline=DEADLINE, clock=clock or ManualClock())


async def test_returns_the_row_and_reuses_the_connection_for_the_next_lookup() -> None:
    driver = FakeDriver()
    store = store_over(driver)
    assert await store.fetch("token") == ROW
    assert await store.fetch("other") is None
    assert len(driver.opened) == 1
    assert store.connections == 1


async def test_opens_at_most_pool_size_connections_however_many_lookups_wait() -> None:
    driver = FakeDriver(lookup_gate=asyncio.Event())
    store = SessionStore(driver, pool_size=3, deadline=1.0)
    lookups = [asyncio.create_task(store.fetch("token")) for _ in range(10)]
    await asyncio.sleep(0.01)
    assert len(driver.opened) == 3
    assert driver.lookup_gate is not None
    driver.lookup_gate.set()
    assert await asyncio.gather(*lookups) == [ROW] * 10
    assert len(driver.opened) == 3


async def test_no_connection_coming_free_before_the_deadline_is_a_busy_store() -> None:
    driver = FakeDriver(lookup_hangs=True)
    store = store_over(driver, pool_size=1)
    busy = asyncio.create_task(store.fetch("token"))
    await asyncio.sleep(0)
    with pytest.raises(
        SessionStoreUnavailable, match="no connection to the session database came free"
    ) as raised:
        await store.fetch("token")
    assert raised.value.retry_after == BUSY_RETRY_AFTER
    with pytest.raises(SessionStoreUnavailable, match=r"did not answer within 0\.05 s"):
        await busy


async def test_a_connect_that_outlasts_the_deadline_leaves_no_connection_behind() -> None:
    driver = FakeDriver(connect_hangs=True)
    store = store_over(driver)
    with pytest.raises(
        SessionStoreUnavailable, match=r"did not accept a connection within 0\.05 s"
    ) as raised:
        await store.fetch("token")
    assert raised.value.retry_after == DOWN_RETRY_AFTER
    assert store.connections == 0


async def test_a_query_that_outlasts_the_deadline_closes_its_connection_for_the_next_lookup_to_open_anew() -> (
    None
):
    driver = FakeDriver(lookup_hangs=True)
    store = store_over(driver)
    with pytest.raises(SessionStoreUnavailable, match="did not answer within") as raised:
        await store.fetch("token")
    assert raised.value.retry_after == DOWN_RETRY_AFTER
    assert driver.open_connections == 0
    driver.lookup_hangs = False
    assert await store.fetch("token") == ROW
    assert len(driver.opened) == 2


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unreachable", "the session database is unreachable"),
        ("refused", "the session database refused the lookup (error 42P01)"),
        ("failed", "the session database failed the lookup (error 42P01)"),
    ],
)
async def test_a_database_failure_is_an_unavailable_store_never_a_missing_session(
    kind: FailureKind, reason: str
) -> None:
    store = store_over(FakeDriver(connect_fails=FakeDatabaseError(kind, "42P01")))
    with pytest.raises(SessionStoreUnavailable) as raised:
        await store.fetch("token")
    assert raised.value.reason == reason
    assert raised.value.retry_after == DOWN_RETRY_AFTER


async def test_a_failed_lookup_closes_its_connection() -> None:
    driver = FakeDriver(lookup_fails=[FakeDatabaseError("failed", "53300")])
    store = store_over(driver)
    with pytest.raises(SessionStoreUnavailable, match="error 53300"):
        await store.fetch("token")
    assert driver.open_connections == 0
    assert store.connections == 0


async def test_replaces_a_pooled_connection_the_server_had_closed_within_the_same_lookup() -> None:
    driver = FakeDriver()
    store = store_over(driver)
    await store.fetch("token")
    driver.lookup_fails = [FakeDatabaseError("unreachable")]
    assert await store.fetch("token") == ROW
    assert driver.used == [0, 0, 1]


async def test_does_not_retry_on_a_new_connection_that_breaks() -> None:
    driver = FakeDriver(lookup_fails=[FakeDatabaseError("unreachable")])
    with pytest.raises(SessionStoreUnavailable, match="unreachable"):
        await store_over(driver).fetch("token")
    assert driver.used == [0]


async def test_an_error_that_is_no_database_failure_is_raised_as_it_is() -> None:
    driver = FakeDriver(lookup_fails=[KeyError("a bug")])
    store = store_over(driver)
    with pytest.raises(KeyError):
        await store.fetch("token")
    assert store.connections == 0


async def test_a_lookup_cancelled_from_outside_gives_its_connection_up() -> None:
    driver = FakeDriver(lookup_hangs=True)
    store = SessionStore(driver, pool_size=1, deadline=10)
    lookup = asyncio.create_task(store.fetch("token"))
    await asyncio.sleep(0)
    lookup.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lookup
    assert store.connections == 0
    driver.lookup_hangs = False
    assert await store.fetch("token") == ROW


async def test_check_says_why_a_lookup_fails_and_raises_when_it_never_can() -> None:
    driver = FakeDriver()
    store = store_over(driver)
    assert await store.check() is None
    driver.rows[PROBE_TOKEN] = ROW
    assert await store.check() is None
    store = store_over(FakeDriver(connect_fails=FakeDatabaseError("unreachable")))
    assert await store.check() == "the session database is unreachable"
    store = store_over(FakeDriver(connect_fails=FakeDatabaseError("refused", "28P01")))
    with pytest.raises(SessionStoreMisconfigured) as raised:
        await store.check()
    assert raised.value.reason == "the session database refused the lookup (error 28P01)"


async def test_the_check_takes_a_lookup_that_just_answered_for_its_answer_unless_one_failed_since() -> None:
    clock = ManualClock()
    driver = FakeDriver()
    store = store_over(driver, clock=clock)
    await store.fetch("token")
    assert await store.check() is None
    assert len(driver.used) == 1
    clock.now += 5
    assert await store.check() is None
    assert len(driver.used) == 2
    driver.lookup_fails = [FakeDatabaseError("failed", "53300")]
    with pytest.raises(SessionStoreUnavailable):
        await store.fetch("token")
    assert await store.check() is None
    assert len(driver.used) == 4


async def test_after_closing_every_lookup_fails_and_busy_connections_close_when_done() -> None:
    driver = FakeDriver(lookup_gate=asyncio.Event())
    store = store_over(driver)
    busy = asyncio.create_task(store.fetch("token"))
    await asyncio.sleep(0)
    store.close()
    with pytest.raises(SessionStoreUnavailable, match="eventgate is stopping"):
        await store.fetch("token")
    assert driver.lookup_gate is not None
    driver.lookup_gate.set()
    assert await busy == ROW
    assert driver.open_connections == 0


async def test_warns_at_the_first_failure_then_at_most_once_a_minute_and_says_when_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    driver = FakeDriver(connect_fails=FakeDatabaseError("unreachable"))
    store = store_over(driver, clock=clock)
    with caplog.at_level(logging.INFO, logger="adapters.nextauth_db"):
        for seconds in (0, 1, 30, 61):
            clock.now = seconds
            with pytest.raises(SessionStoreUnavailable):
                await store.fetch("token")
        driver.connect_fails = None
        await store.fetch("token")
        await store.fetch("token")
    messages = [record.getMessage() for record in caplog.records if record.name == "adapters.nextauth_db"]
    assert len(messages) == 3
    assert messages[0].startswith("session lookups fail: the session database is unreachable")
    assert messages[0].endswith("1 failed since the last warning")
    assert messages[1].endswith("3 failed since the last warning")
    assert messages[2] == "the session database answers again; 0 lookups failed since the last warning"


# The pool on its own.


def pool_over(driver: FakeDriver, max_size: int) -> ConnectionPool[FakeConnection]:
    return ConnectionPool(driver.connect, is_open=driver.is_open, close=driver.close, max_size=max_size)


async def test_the_pool_reuses_the_connection_given_back_last() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 2)
    first, second = await pool.acquire(Attempt()), await pool.acquire(Attempt())
    pool.release(first)
    pool.release(second)
    assert await pool.acquire(Attempt()) is second


async def test_the_pool_skips_an_idle_connection_that_closed() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 1)
    connection = await pool.acquire(Attempt())
    pool.release(connection)
    connection.open = False
    assert (await pool.acquire(Attempt())).number == 1
    assert pool.size == 1


async def test_a_connection_given_back_goes_to_the_longest_waiting_acquire() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 1)
    connection = await pool.acquire(Attempt())
    order: list[str] = []

    async def wait(name: str) -> None:
        pool.release(await pool.acquire(Attempt()))
        order.append(name)

    waiters = [asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))]
    await asyncio.sleep(0)
    pool.release(connection)
    await asyncio.gather(*waiters)
    assert order == ["first", "second"]
    assert len(driver.opened) == 1


async def test_a_discarded_connection_makes_room_for_a_waiting_acquire_to_open_one() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 1)
    connection = await pool.acquire(Attempt())
    attempt = Attempt()
    waiting = asyncio.create_task(pool.acquire(attempt))
    await asyncio.sleep(0)
    pool.discard(connection)
    assert (await waiting).number == 1
    assert attempt.phase == "connecting"
    assert pool.size == 1


async def test_an_acquire_given_up_just_as_it_was_served_passes_the_connection_on() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 1)
    connection = await pool.acquire(Attempt())
    given_up = asyncio.create_task(pool.acquire(Attempt()))
    await asyncio.sleep(0)
    pool.release(connection)  # the waiter is served ...
    given_up.cancel()  # ... and cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert pool.idle == 1
    assert await pool.acquire(Attempt()) is connection


async def test_a_cancelled_acquire_leaves_no_waiter_behind() -> None:
    driver = FakeDriver()
    pool = pool_over(driver, 1)
    connection = await pool.acquire(Attempt())
    for _ in range(3):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.001):
                await pool.acquire(Attempt())
    assert not pool._waiters
    pool.release(connection)
    assert pool.idle == 1
