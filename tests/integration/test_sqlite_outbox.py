"""The SQLite outbox on a real file: durability, leases, capacity, dead letters."""

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.event_json import as_encoded
from adapters.sqlite_outbox.schema import JOURNAL_SIZE_LIMIT
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.errors import EventBusUnavailable
from domain.event import UserEvent
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio


def event(n: int, payload: str = "") -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": payload}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture
def open_outbox(tmp_path: Path, clock: ManualMillisecondClock) -> Callable[..., SqliteOutboxStore]:
    def make(max_events: int = 1_000_000, max_bytes: int = 1 << 30) -> SqliteOutboxStore:
        return SqliteOutboxStore(
            tmp_path / "var" / "outbox.sqlite3", clock_ms=clock, max_events=max_events, max_bytes=max_bytes
        )

    return make


@pytest.fixture
async def outbox(open_outbox: Callable[..., SqliteOutboxStore]) -> AsyncIterator[SqliteOutboxStore]:
    box = open_outbox()
    await box.open()
    yield box
    await box.close()


async def test_creates_its_folder_and_file_on_open(tmp_path: Path, outbox: SqliteOutboxStore) -> None:
    assert (tmp_path / "var" / "outbox.sqlite3").is_file()


async def test_keeps_accepted_events_across_a_reopen(open_outbox: Callable[..., SqliteOutboxStore]) -> None:
    first = open_outbox()
    await first.open()
    await first.append([event(1), event(2)])
    await first.close()

    second = open_outbox()
    await second.open()
    claimed = await second.claim("relay", 10, 30)
    await second.close()

    assert [item.event for item in claimed] == [as_encoded(event(1)), as_encoded(event(2))]


async def test_claims_oldest_first_and_never_hands_a_leased_event_to_another_owner(
    outbox: SqliteOutboxStore,
) -> None:
    await outbox.append([event(n) for n in range(5)])

    first = await outbox.claim("relay-a", 3, 30)
    second = await outbox.claim("relay-b", 10, 30)

    assert [item.event.id for item in first] == ["event-0", "event-1", "event-2"]
    assert [item.event.id for item in second] == ["event-3", "event-4"]
    assert await outbox.claim("relay-c", 10, 30) == []


async def test_an_expired_lease_makes_the_events_claimable_again(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    await outbox.claim("crashed-relay", 10, 30)

    clock.advance(31)

    assert [item.event.id for item in await outbox.claim("relay", 10, 30)] == ["event-1"]


async def test_delivered_events_are_never_claimed_again(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)

    await outbox.mark_delivered("relay", ["event-1", "event-2"])
    clock.advance(3600)

    assert await outbox.claim("relay", 10, 30) == []
    assert (await outbox.status()).delivered_last_minute == 0


async def test_a_retried_event_waits_its_delay_and_counts_the_attempt(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    await outbox.claim("relay", 10, 30)

    await outbox.retry_later("relay", ["event-1"], 5.0, "inngest answered 503")

    assert await outbox.claim("relay", 10, 30) == []
    clock.advance(5)
    [again] = await outbox.claim("relay", 10, 30)
    assert again.attempts == 1
    assert (await outbox.status()).last_error == "inngest answered 503"


async def test_only_the_lease_holder_can_release_or_bury_an_event(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1)])
    await outbox.claim("relay-a", 10, 30)

    await outbox.retry_later("relay-b", ["event-1"], 0, "not mine")
    await outbox.dead_letter("relay-b", ["event-1"], "not mine")

    status = await outbox.status()
    assert (status.pending, status.dead) == (1, 0)


async def test_dead_letters_keep_their_reason_and_can_be_revived(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)
    await outbox.dead_letter("relay", ["event-1"], "invalid event")

    [dead] = await outbox.dead_letters()
    assert (dead.id, dead.name, dead.reason, dead.attempts) == ("event-1", "app/test", "invalid event", 1)

    assert await outbox.revive(["event-1"]) == 1
    assert await outbox.dead_letters() == []
    assert (await outbox.status()).pending == 2


async def test_an_event_id_already_in_the_outbox_is_not_stored_twice(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1)])
    await outbox.append([event(1)])

    assert (await outbox.status()).pending == 1


async def test_refuses_a_whole_publish_that_would_overflow_the_event_limit(
    open_outbox: Callable[..., SqliteOutboxStore],
) -> None:
    outbox = open_outbox(max_events=3)
    await outbox.open()
    await outbox.append([event(1), event(2)])

    with pytest.raises(EventBusUnavailable) as raised:
        await outbox.append([event(3), event(4)])
    await outbox.append([event(5)])
    status = await outbox.status()
    await outbox.close()

    assert raised.value.retry_after is not None
    assert "full" in raised.value.reason
    assert status.pending == 3


async def test_refuses_a_publish_that_would_overflow_the_byte_limit(
    open_outbox: Callable[..., SqliteOutboxStore],
) -> None:
    outbox = open_outbox(max_bytes=500)
    await outbox.open()

    with pytest.raises(EventBusUnavailable):
        await outbox.append([event(1, payload="x" * 600)])
    status = await outbox.status()
    await outbox.close()

    assert status.pending == 0


async def test_concurrent_publishes_share_transactions_and_all_land(outbox: SqliteOutboxStore) -> None:
    await asyncio.gather(*(outbox.append([event(n)]) for n in range(500)))

    assert (await outbox.status()).pending == 500


async def test_purging_forgets_delivered_events_only(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 1, 30)
    await outbox.mark_delivered("relay", ["event-1"])

    assert await outbox.purge_delivered() == 1
    assert (await outbox.status()).pending == 1


async def test_a_closed_outbox_refuses_publishes_as_unavailable(
    open_outbox: Callable[..., SqliteOutboxStore],
) -> None:
    outbox = open_outbox()
    await outbox.open()
    await outbox.close()

    with pytest.raises(EventBusUnavailable):
        await outbox.append([event(1)])


async def test_wakes_its_listeners_after_each_stored_publish(outbox: SqliteOutboxStore) -> None:
    rings: list[str] = []
    outbox.on_append(lambda: rings.append("ring"))

    await outbox.append([event(1)])

    assert rings == ["ring"]


async def test_the_outbox_files_are_its_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "outbox.sqlite3"
    previous = os.umask(0o000)
    try:
        outbox = SqliteOutboxStore(path)
        await outbox.open()
        await outbox.append([event(1)])
        await outbox.close()
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for file in path.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


async def test_an_outbox_file_left_readable_by_others_is_closed_to_them_at_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)

    outbox = SqliteOutboxStore(path)
    await outbox.open()
    await outbox.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_write_ahead_log_shrinks_back_to_its_limit_once_a_checkpoint_can_catch_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    wal = tmp_path / "outbox.sqlite3-wal"
    outbox = SqliteOutboxStore(path)
    await outbox.open()
    try:
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        # A read that holds its snapshot: no checkpoint gets past it, and the log grows.
        reader.execute("SELECT count(*) FROM outbox").fetchone()
        for n in range(600):
            await outbox.append([event(n * 10 + k, payload="x" * 4000) for k in range(10)])
        grown = wal.stat().st_size
        reader.close()
        for n in range(6000, 6400):
            await outbox.append([event(n)])
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        await outbox.append([event(7000)])
        shrunk = wal.stat().st_size
    finally:
        await outbox.close()

    assert grown > 2 * JOURNAL_SIZE_LIMIT
    assert shrunk <= JOURNAL_SIZE_LIMIT


HOLDER = """
import asyncio, sys
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

async def main() -> None:
    store = SqliteOutboxStore(sys.argv[1])
    await store.open()
    print("open", flush=True)
    sys.stdin.readline()
    await store.append([UserEvent(name="app/test", data={}, id="accepted-after-the-other-process", ts=1)])
    print("appended", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_an_event_accepted_after_another_process_used_the_outbox_survives_a_kill_9(tmp_path: Path) -> None:
    """Another process (``eventgate outbox status``) opening and closing the outbox must find it in use."""
    path = tmp_path / "outbox.sqlite3"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline() == "open\n"
            other = sqlite3.connect(path)
            other.execute("SELECT count(*) FROM outbox").fetchone()
            other.close()
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "appended\n"
        finally:
            holder.kill()

    survivors = sqlite3.connect(path).execute("SELECT id FROM outbox").fetchall()
    assert survivors == [("accepted-after-the-other-process",)]
