"""The hand-off contract, which every store passes: what a process accepts is leased to its own relay
as it is written and waits for it in memory, and is freed for any relay when it must be."""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from adapters.event_json import as_encoded
from domain.event import UserEvent
from tests.contract.outbox_stores import STORE_KINDS, Store, StoreKind, Stores, opened_stores
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio

OWN_RELAY = "this-process"
LEASE_SECONDS = 30.0

HandingOff = Callable[..., Awaitable[Store]]


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": n}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture(params=STORE_KINDS)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualMillisecondClock
) -> AsyncIterator[Stores]:
    kind: StoreKind = request.param
    async with opened_stores(kind, tmp_path, clock) as opened:
        yield opened


@pytest.fixture
def make_outbox(stores: Stores) -> HandingOff:
    """Opened stores that hand off to ``OWN_RELAY``, ``capacity`` events at most."""

    async def make(capacity: int = 100) -> Store:
        outbox = await stores()
        outbox.hand_off_to(OWN_RELAY, LEASE_SECONDS, capacity=capacity)
        return outbox

    return make


@pytest.fixture
async def outbox(make_outbox: HandingOff) -> Store:
    return await make_outbox()


async def test_the_own_relay_gets_the_accepted_events_as_encoded_without_reading_them_back(
    outbox: Store,
) -> None:
    accepted = [event(1), event(2)]
    await outbox.append(accepted)

    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [item.event for item in claimed] == [as_encoded(event) for event in accepted]
    assert await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS) == []


async def test_another_relay_takes_handed_off_events_only_once_their_lease_ran_out(
    outbox: Store, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])

    assert await outbox.claim("another-process", 10, LEASE_SECONDS) == []
    clock.advance(LEASE_SECONDS + 1)
    assert [item.event.id for item in await outbox.claim("another-process", 10, LEASE_SECONDS)] == ["event-1"]


async def test_an_event_that_waited_half_its_lease_in_memory_is_claimed_at_once_with_a_fresh_lease(
    outbox: Store, clock: ManualMillisecondClock
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


async def test_due_events_of_the_store_come_before_those_waiting_in_memory(outbox: Store) -> None:
    await outbox.append([event(1)])
    first = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    await outbox.retry_later(OWN_RELAY, [first[0].event.id], 0.0, "bus unavailable")
    await outbox.append([event(2)])

    claimed = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [(item.event.id, item.attempts) for item in claimed] == [("event-1", 1), ("event-2", 0)]


async def test_closing_frees_what_still_waits_in_memory_for_any_relay(
    make_outbox: HandingOff,
) -> None:
    closing = await make_outbox()
    await closing.append([event(1)])
    await closing.close()

    reopened = await make_outbox()
    claimed = await reopened.claim("another-process", 10, LEASE_SECONDS)

    assert [item.event.id for item in claimed] == ["event-1"]


async def test_past_its_capacity_the_outbox_writes_events_for_any_relay_to_claim(
    make_outbox: HandingOff,
) -> None:
    outbox = await make_outbox(capacity=1)
    await outbox.append([event(1)])
    await outbox.append([event(2)])
    others = await outbox.claim("another-process", 10, LEASE_SECONDS)
    own = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [item.event.id for item in others] == ["event-2"]
    assert [item.event.id for item in own] == ["event-1"]


async def test_an_event_accepted_again_under_its_id_is_not_handed_over_twice(
    outbox: Store,
) -> None:
    await outbox.append([event(1)])
    first = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)
    await outbox.mark_delivered(OWN_RELAY, [item.event.id for item in first])

    await outbox.append([event(1)])

    assert await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS) == []


async def test_a_publish_with_some_ids_stored_already_leaves_its_new_events_to_any_relay(
    outbox: Store, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    clock.advance(0.001)
    await outbox.append([event(1), event(2)])

    others = await outbox.claim("another-process", 10, LEASE_SECONDS)
    own = await outbox.claim(OWN_RELAY, 10, LEASE_SECONDS)

    assert [item.event.id for item in others] == ["event-2"]
    assert [item.event.id for item in own] == ["event-1"]
