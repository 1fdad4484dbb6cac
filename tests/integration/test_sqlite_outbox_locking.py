"""The outbox writes on the event loop, and never makes it wait: locks and checkpoints go to the thread."""

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.sqlite_outbox.inline import InlineWriter
from adapters.sqlite_outbox.schema import connect
from adapters.sqlite_outbox.store import SqliteOutboxStore
from adapters.sqlite_outbox.worker import SqliteWorker
from domain.event import UserEvent
from tests.sqlite_outbox_rows import EVERY_EVENT

pytestmark = pytest.mark.anyio


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "n": n}, id=f"event-{n}", ts=n)


@contextmanager
def write_lock_held_by_another_process(path: Path) -> Iterator[None]:
    """What another eventgate process (a relay, a second worker, the CLI) does while it writes."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


class LoopLag:
    """The longest the event loop went without running a 5 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - before - 0.005)

    def __enter__(self) -> "LoopLag":
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
async def outbox(path: Path) -> AsyncIterator[SqliteOutboxStore]:
    box = SqliteOutboxStore(path)
    await box.open()
    yield box
    await box.close()


def rows_in(path: Path, where: str = "1") -> int:
    with sqlite3.connect(path) as reader:
        count: int = reader.execute(f"SELECT count(*) FROM {EVERY_EVENT} WHERE {where}").fetchone()[0]  # noqa: S608
    return count


async def test_a_publish_waits_without_blocking_the_loop_while_another_process_writes(
    path: Path, outbox: SqliteOutboxStore
) -> None:
    with LoopLag() as lag:
        with write_lock_held_by_another_process(path):
            publish = asyncio.ensure_future(outbox.append([event(1)]))
            await asyncio.sleep(0.3)
            assert not publish.done()
        assert await asyncio.wait_for(publish, 5) == ["event-1"]

    assert rows_in(path) == 1
    assert lag.worst < 0.1


async def test_the_relay_claims_and_acknowledges_while_another_process_held_the_lock(
    path: Path, outbox: SqliteOutboxStore
) -> None:
    await outbox.append([event(1), event(2)])
    with write_lock_held_by_another_process(path):
        claim = asyncio.ensure_future(outbox.claim("relay", 10, 30))
        await asyncio.sleep(0.2)
        assert not claim.done()
    claimed = await asyncio.wait_for(claim, 5)
    with write_lock_held_by_another_process(path):
        mark = asyncio.ensure_future(outbox.mark_delivered("relay", [item.event.id for item in claimed]))
        await asyncio.sleep(0.2)
    await asyncio.wait_for(mark, 5)

    assert [item.event.id for item in claimed] == ["event-1", "event-2"]
    assert rows_in(path, "state = 'delivered'") == 2


async def test_the_appends_of_one_turn_of_the_loop_are_written_in_one_transaction(path: Path) -> None:
    groups: list[list[int]] = []

    def write_group(connection: sqlite3.Connection, items: list[int]) -> list[object]:
        groups.append(items)
        return [item * 10 for item in items]

    worker: SqliteWorker[int] = SqliteWorker(lambda: connect(str(path), "normal"), write_group)
    await worker.start()
    writer = InlineWriter(lambda: connect(str(path), "normal"), write_group, worker)
    await writer.open()
    try:
        results = await asyncio.gather(*(writer.append(n) for n in range(50)))
        later = await writer.append(50)
    finally:
        await writer.close()
        await worker.stop()

    assert results == [n * 10 for n in range(50)]
    assert later == 500
    assert groups == [list(range(50)), [50]]


async def test_checkpoints_in_the_thread_keep_the_write_ahead_log_small(path: Path) -> None:
    def write_group(connection: sqlite3.Connection, items: list[int]) -> list[object]:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO outbox_heartbeat_log VALUES (?, randomblob(3000))", [(i,) for i in items]
        )
        connection.execute("COMMIT")
        return [None] * len(items)

    def connect_with_log() -> sqlite3.Connection:
        connection = connect(str(path), "normal")
        connection.execute("CREATE TABLE IF NOT EXISTS outbox_heartbeat_log (n INTEGER, filler BLOB)")
        return connection

    worker: SqliteWorker[int] = SqliteWorker(connect_with_log, write_group)
    await worker.start()
    writer = InlineWriter(connect_with_log, write_group, worker, checkpoint_every=20)
    await writer.open()
    wal = path.with_name(path.name + "-wal")
    try:
        for n in range(3000):
            await writer.append(n)
        wal_bytes = wal.stat().st_size
    finally:
        await writer.close()
        await worker.stop()

    assert wal_bytes < 8_000_000, "3,000 commits of 3 KB each, and the log never started over"


async def test_delivered_events_are_forgotten_once_older_than_the_retention(path: Path) -> None:
    now = [1_000_000]
    before = SqliteOutboxStore(path, retention_seconds=60, clock_ms=lambda: now[0])
    await before.open()
    await before.append([event(1), event(2)])
    await before.claim("relay", 1, 30)
    await before.mark_delivered("relay", ["event-1"])
    await before.close()
    now[0] += 120_000
    after = SqliteOutboxStore(path, retention_seconds=60, clock_ms=lambda: now[0])
    await after.open()
    await after.claim("relay", 1, 30)
    await after.mark_delivered("relay", ["event-2"])
    await after.close()

    assert rows_in(path, "id = 'event-1'") == 0
    assert rows_in(path, "id = 'event-2' AND state = 'delivered'") == 1
