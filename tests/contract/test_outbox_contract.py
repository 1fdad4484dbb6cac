"""The outbox ports' contract, which every store passes: SQLite and PostgreSQL alike.

Claims lease oldest first and never to two owners at once; outcomes are the lease holder's;
capacity refuses whole publishes; the same event id is stored once, and a reused idempotency key
stores nothing; delivered events drop their bodies; dead owners' leases come free at once.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.event_json import as_encoded
from application.ports import HandOffPort, OutboxAdminPort, OutboxPort
from domain.errors import EventBusUnavailable, IdempotencyKeyReused
from domain.event import UserEvent
from tests.contract.outbox_stores import STORE_KINDS, Store, StoreKind, Stores, opened_stores
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio


def event(n: int, payload: str = "") -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": payload}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture(params=STORE_KINDS)
def kind(request: pytest.FixtureRequest) -> StoreKind:
    chosen: StoreKind = request.param
    return chosen


@pytest.fixture
async def make_store(kind: StoreKind, tmp_path: Path, clock: ManualMillisecondClock) -> AsyncIterator[Stores]:
    async with opened_stores(kind, tmp_path, clock) as stores:
        yield stores


@pytest.fixture
async def outbox(make_store: Stores) -> Store:
    return await make_store()


async def test_every_store_serves_all_three_outbox_ports(outbox: Store) -> None:
    ports: tuple[OutboxPort, OutboxAdminPort, HandOffPort] = (outbox, outbox, outbox)

    assert all(ports)


async def test_keeps_accepted_events_across_a_reopen(make_store: Stores) -> None:
    first = await make_store()
    await first.append([event(1), event(2)])
    await first.close()

    second = await make_store()
    claimed = await second.claim("relay", 10, 30)

    assert [item.event for item in claimed] == [as_encoded(event(1)), as_encoded(event(2))]


async def test_claims_oldest_first_and_never_hands_a_leased_event_to_another_owner(outbox: Store) -> None:
    await outbox.append([event(n) for n in range(5)])

    first = await outbox.claim("relay-a", 3, 30)
    second = await outbox.claim("relay-b", 10, 30)

    assert [item.event.id for item in first] == ["event-0", "event-1", "event-2"]
    assert [item.event.id for item in second] == ["event-3", "event-4"]
    assert await outbox.claim("relay-c", 10, 30) == []


async def test_an_expired_lease_makes_the_events_claimable_again(
    outbox: Store, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    await outbox.claim("crashed-relay", 10, 30)

    clock.advance(31)

    assert [item.event.id for item in await outbox.claim("relay", 10, 30)] == ["event-1"]


async def test_delivered_events_are_never_claimed_again(outbox: Store, clock: ManualMillisecondClock) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)

    await outbox.mark_delivered("relay", ["event-1", "event-2"])
    assert (await outbox.status()).delivered_last_minute == 2
    clock.advance(3600)

    assert await outbox.claim("relay", 10, 30) == []
    status = await outbox.status()
    assert (status.pending, status.pending_bytes, status.delivered_last_minute) == (0, 0, 0)


async def test_a_retried_event_waits_its_delay_and_counts_the_attempt(
    outbox: Store, clock: ManualMillisecondClock
) -> None:
    await outbox.append([event(1)])
    await outbox.claim("relay", 10, 30)

    await outbox.retry_later("relay", ["event-1"], 5.0, "inngest answered 503")

    assert await outbox.claim("relay", 10, 30) == []
    clock.advance(5)
    [again] = await outbox.claim("relay", 10, 30)
    assert again.attempts == 1
    assert (await outbox.status()).last_error == "inngest answered 503"


async def test_only_the_lease_holder_can_release_or_bury_an_event(outbox: Store) -> None:
    await outbox.append([event(1)])
    await outbox.claim("relay-a", 10, 30)

    await outbox.retry_later("relay-b", ["event-1"], 0, "not mine")
    await outbox.dead_letter("relay-b", ["event-1"], "not mine")

    status = await outbox.status()
    assert (status.pending, status.dead) == (1, 0)


async def test_dead_letters_keep_their_reason_and_can_be_revived(outbox: Store) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)
    await outbox.dead_letter("relay", ["event-1"], "invalid event")

    [dead] = await outbox.dead_letters()
    assert (dead.id, dead.name, dead.reason, dead.attempts) == ("event-1", "app/test", "invalid event", 1)

    assert await outbox.revive(["event-1"]) == 1
    assert await outbox.dead_letters() == []
    assert (await outbox.status()).pending == 2


async def test_reviving_every_dead_letter_makes_them_all_due_again(outbox: Store) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)
    await outbox.dead_letter("relay", ["event-1", "event-2"], "invalid event")

    assert await outbox.revive(None) == 2
    claimed = await outbox.claim("relay", 10, 30)

    assert [(item.event.id, item.attempts) for item in claimed] == [("event-1", 0), ("event-2", 0)]


async def test_an_event_id_already_in_the_outbox_is_not_stored_twice(outbox: Store) -> None:
    assert await outbox.append([event(1)]) == ["event-1"]
    assert await outbox.append([event(1)]) == ["event-1"]

    assert (await outbox.status()).pending == 1


async def test_concurrent_retries_of_one_event_are_stored_once(outbox: Store) -> None:
    await asyncio.gather(*(outbox.append([event(1)]) for _ in range(20)))

    assert (await outbox.status()).pending == 1


async def test_a_reused_idempotency_key_stores_nothing_of_the_request(outbox: Store) -> None:
    await outbox.append([event(1, payload="first")])

    with pytest.raises(IdempotencyKeyReused) as raised:
        await outbox.append([event(2), event(1, payload="second")])

    assert raised.value.event_ids == ("event-1",)
    claimed = await outbox.claim("relay", 10, 30)
    assert [item.event for item in claimed] == [as_encoded(event(1, payload="first"))]


@pytest.mark.parametrize("state", ["delivered", "dead"])
async def test_a_finished_event_still_tells_a_retry_from_a_reused_key(outbox: Store, state: str) -> None:
    """Its body may be gone, but its request hash is kept for as long as the outbox keeps the event."""
    await outbox.append([event(1, payload="first")])
    await outbox.claim("relay", 10, 30)
    if state == "delivered":
        await outbox.mark_delivered("relay", ["event-1"])
    else:
        await outbox.dead_letter("relay", ["event-1"], "refused")

    assert await outbox.append([event(1, payload="first")]) == ["event-1"]
    with pytest.raises(IdempotencyKeyReused):
        await outbox.append([event(1, payload="second")])
    assert await outbox.claim("relay", 10, 30) == []


async def test_refuses_a_whole_publish_that_would_overflow_the_event_limit(
    make_store: Stores,
) -> None:
    outbox = await make_store(max_events=3)
    await outbox.append([event(1), event(2)])

    with pytest.raises(EventBusUnavailable) as raised:
        await outbox.append([event(3), event(4)])
    await outbox.append([event(5)])
    status = await outbox.status()

    assert raised.value.retry_after is not None
    assert "full" in raised.value.reason
    assert status.pending == 3


async def test_delivered_events_make_room_again(make_store: Stores) -> None:
    outbox = await make_store(max_events=2)
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)
    await outbox.mark_delivered("relay", ["event-1"])

    await outbox.append([event(3)])

    assert (await outbox.status()).pending == 2


async def test_refuses_a_publish_that_would_overflow_the_byte_limit(
    make_store: Stores,
) -> None:
    outbox = await make_store(max_bytes=500)

    with pytest.raises(EventBusUnavailable):
        await outbox.append([event(1, payload="x" * 600)])

    assert (await outbox.status()).pending == 0


async def test_concurrent_publishes_share_transactions_and_all_land(outbox: Store) -> None:
    await asyncio.gather(*(outbox.append([event(n)]) for n in range(500)))

    claimed = await outbox.claim("relay", 1000, 30)
    assert sorted(item.event.id for item in claimed) == sorted(f"event-{n}" for n in range(500))


async def test_purging_forgets_delivered_events_only(outbox: Store) -> None:
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 1, 30)
    await outbox.mark_delivered("relay", ["event-1"])

    assert await outbox.purge_delivered() == 1
    assert (await outbox.status()).pending == 1


async def test_delivered_events_are_purged_once_their_retention_is_over(
    make_store: Stores, clock: ManualMillisecondClock
) -> None:
    first = await make_store(retention_seconds=10)
    await first.append([event(1), event(2)])
    await first.claim("relay", 1, 30)
    await first.mark_delivered("relay", ["event-1"])
    await first.close()  # lets the purge its first delivery started finish
    clock.advance(61)

    second = await make_store(retention_seconds=10)
    await second.claim("relay", 1, 30)
    await second.mark_delivered("relay", ["event-2"])
    await second.close()

    reopened = await make_store(retention_seconds=10)
    assert await reopened.purge_delivered() == 1, "event-1 was purged already; event-2 is recent"


async def test_a_closed_outbox_refuses_publishes_as_unavailable(outbox: Store) -> None:
    await outbox.close()

    with pytest.raises(EventBusUnavailable):
        await outbox.append([event(1)])


async def test_wakes_its_listeners_after_each_stored_publish(outbox: Store) -> None:
    rings: list[None] = []
    outbox.on_append(lambda: rings.append(None))

    await outbox.append([event(1)])
    await outbox.append([event(2)])

    assert len(rings) >= 2


async def test_a_ready_store_says_so(outbox: Store) -> None:
    assert await outbox.probe() is None


async def test_delivered_events_drop_their_bodies_and_dead_letters_keep_theirs(
    make_store: Stores,
) -> None:
    outbox = await make_store()
    await outbox.append([event(1), event(2)])
    await outbox.claim("relay", 10, 30)
    await outbox.mark_delivered("relay", ["event-1"])
    await outbox.dead_letter("relay", ["event-2"], "refused")

    assert await make_store.body("event-1") is None
    assert await make_store.body("event-2") is not None


async def test_delivered_events_keep_their_bodies_when_asked_to(
    make_store: Stores,
) -> None:
    outbox = await make_store(keep_delivered=True)
    await outbox.append([event(1)])
    await outbox.claim("relay", 10, 30)
    await outbox.mark_delivered("relay", ["event-1"])

    assert await make_store.body("event-1") is not None


async def test_the_leases_of_a_dead_owner_are_released_at_once(
    make_store: Stores,
) -> None:
    dying = await make_store()
    await dying.hold_owner("relay-dead")
    survivor = await make_store()
    await survivor.hold_owner("relay-alive")
    await survivor.append([event(1), event(2)])
    await dying.claim("relay-dead", 1, 30)
    await survivor.claim("relay-alive", 1, 30)

    assert await survivor.release_dead_owners() == 0, "both owners are alive"
    await dying.close()

    assert await survivor.release_dead_owners() == 1
    assert [item.event.id for item in await survivor.claim("relay-alive", 10, 30)] == ["event-1"]
