"""The SQLite hand-off beyond the contract (tests/contract/test_outbox_hand_off_contract.py): the file's due
events come before those waiting in memory."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio

OWN_RELAY = "this-process"
LEASE_SECONDS = 60


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "n": n}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture
def make_outbox(tmp_path: Path, clock: ManualMillisecondClock) -> Callable[..., SqliteOutboxStore]:
    def make(capacity: int = 100) -> SqliteOutboxStore:
        outbox = SqliteOutboxStore(tmp_path / "outbox.sqlite3", clock_ms=clock)
        outbox.hand_off_to(OWN_RELAY, LEASE_SECONDS, capacity=capacity)
        return outbox

    return make


@pytest.fixture
async def outbox(make_outbox: Callable[..., SqliteOutboxStore]) -> AsyncIterator[SqliteOutboxStore]:
    box = make_outbox()
    await box.open()
    yield box
    await box.close()


async def test_due_events_of_the_file_come_before_those_waiting_in_memory(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1)])
    first = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    await outbox.retry_later(OWN_RELAY, [first[0].event.id], 0.0, "bus unavailable")
    await outbox.append([event(2)])

    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [(item.event.id, item.attempts) for item in claimed] == [("event-1", 1), ("event-2", 0)]
