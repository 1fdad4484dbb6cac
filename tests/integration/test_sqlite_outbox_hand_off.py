"""Events this process accepts go to its own relay in memory, leased in the file from the start."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.event_json import as_encoded
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


async def test_the_own_relay_gets_the_accepted_events_as_encoded_without_reading_them_back(
    outbox: SqliteOutboxStore,
) -> None:
    accepted = [event(1), event(2)]
    await outbox.append(accepted)

    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [item.event for item in claimed] == [as_encoded(event) for event in accepted]
    assert await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS) == []


async def test_another_relay_takes_handed_off_events_only_once_their_lease_ran_out(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])

    assert await outbox.claim("another-process", 10, LEASE_SECONDS) == []
    clock.advance(LEASE_SECONDS + 1)
    assert [item.event.id for item in await outbox.claim("another-process", 10, LEASE_SECONDS)] == ["event-1"]


async def test_an_event_that_waited_half_its_lease_in_memory_is_claimed_at_once_with_a_fresh_lease(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    """As after an outage of the bus, during which the relay claimed nothing."""
    await outbox.append([event(1)])
    await outbox.append([event(2)])

    clock.advance(LEASE_SECONDS / 2 + 1)
    await outbox.append([event(3)])
    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [(item.event.id, item.attempts) for item in claimed] == [
        ("event-1", 0),
        ("event-2", 0),
        ("event-3", 0),
    ]
    clock.advance(LEASE_SECONDS / 2 + 1)
    assert await outbox.claim("another-process", 10, LEASE_SECONDS) == [], "the lease is the claim's"


async def test_due_events_of_the_file_come_before_those_waiting_in_memory(outbox: SqliteOutboxStore) -> None:
    await outbox.append([event(1)])
    first = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    await outbox.retry_later(OWN_RELAY, [first[0].event.id], 0.0, "bus unavailable")
    await outbox.append([event(2)])

    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [(item.event.id, item.attempts) for item in claimed] == [("event-1", 1), ("event-2", 0)]


async def test_closing_frees_what_still_waits_in_memory_for_any_relay(
    make_outbox: Callable[..., SqliteOutboxStore],
) -> None:
    closing = make_outbox()
    await closing.open()
    await closing.append([event(1)])
    await closing.close()

    reopened = make_outbox()
    await reopened.open()
    try:
        claimed = await reopened.claim("another-process", 10, LEASE_SECONDS)
    finally:
        await reopened.close()

    assert [item.event.id for item in claimed] == ["event-1"]


async def test_past_its_capacity_the_outbox_writes_events_for_any_relay_to_claim(
    make_outbox: Callable[..., SqliteOutboxStore],
) -> None:
    outbox = make_outbox(capacity=1)
    await outbox.open()
    try:
        await outbox.append([event(1)])
        await outbox.append([event(2)])
        others = await outbox.claim("another-process", 10, LEASE_SECONDS)
        own = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    finally:
        await outbox.close()

    assert [item.event.id for item in others] == ["event-2"]
    assert [item.event.id for item in own] == ["event-1"]


async def test_an_event_accepted_again_under_its_id_is_not_handed_over_twice(
    outbox: SqliteOutboxStore,
) -> None:
    await outbox.append([event(1)])
    first = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    await outbox.mark_delivered(OWN_RELAY, [item.event.id for item in first])

    await outbox.append([event(1)])

    assert await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS) == []


async def test_a_publish_with_some_ids_stored_already_leaves_its_new_events_to_any_relay(
    outbox: SqliteOutboxStore, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    clock.advance(0.001)
    await outbox.append([event(1), event(2)])

    others = await outbox.claim("another-process", 10, LEASE_SECONDS)
    own = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [item.event.id for item in others] == ["event-2"]
    assert [item.event.id for item in own] == ["event-1"]
