"""The relay between a real SQLite outbox and fake buses: every event is delivered, retried or buried."""

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.memory import InMemoryEventBus
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.deliver_outbox_events import DEFAULT_SCHEDULE, DeliverOutboxEvents, RetrySchedule
from application.ports import EncodedEvent, EncodedEventBusPort
from application.relay import OutboxRelay
from domain.errors import EventBusUnavailable, SenderRefused
from domain.event import UserEvent
from tests.fakes import SelectiveEventBus

pytestmark = pytest.mark.anyio


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": n}, id=f"event-{n}", ts=n)


def deliverer(
    outbox: SqliteOutboxStore,
    bus: EncodedEventBusPort,
    *,
    batch_size: int = 1000,
    schedule: RetrySchedule = DEFAULT_SCHEDULE,
) -> DeliverOutboxEvents:
    return DeliverOutboxEvents(
        outbox, bus, owner="relay-1", batch_size=batch_size, schedule=schedule, unit_random=lambda: 0.5
    )


class BrokenBus:
    """Raises something no bus should: the relay must treat it as a transient failure."""

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        raise RuntimeError("bug in the adapter")


async def test_delivers_pending_events_in_one_batch_and_marks_them(outbox: SqliteOutboxStore) -> None:
    bus = InMemoryEventBus()
    await outbox.append([event(n) for n in range(3)])

    outcome = await deliverer(outbox, bus).execute()

    assert (outcome.claimed, outcome.delivered) == (3, 3)
    assert [e.id for e in bus.published] == ["event-0", "event-1", "event-2"]
    assert (await outbox.status()).pending == 0


async def test_the_bus_is_handed_the_bytes_the_outbox_stored(
    outbox: SqliteOutboxStore, tmp_path: Path
) -> None:
    bus = InMemoryEventBus()
    events = [event(n) for n in range(3)]
    await outbox.append(events)
    with contextlib.closing(sqlite3.connect(tmp_path / "outbox.sqlite3")) as connection:
        stored = dict(connection.execute("SELECT id, body FROM outbox"))

    await deliverer(outbox, bus).execute()

    assert [(e.id, e.body) for e in bus.published_encoded] == [(e.id, stored[e.id]) for e in events]


async def test_an_unavailable_bus_leaves_the_batch_due_at_once_and_says_the_bus_failed(
    outbox: SqliteOutboxStore,
) -> None:
    bus = InMemoryEventBus()
    failure = EventBusUnavailable("inngest answered 503", retry_after=7)
    bus.fail_next(failure)
    await outbox.append([event(1)])

    outcome = await deliverer(outbox, bus).execute()

    assert (outcome.retried, outcome.bus_failure) == (1, failure)
    assert [(item.event.id, item.attempts) for item in await outbox.claim("someone", 10, 30)] == [
        ("event-1", 1)
    ]
    status = await outbox.status()
    assert (status.pending, status.last_error) == (1, "inngest answered 503")


async def test_a_bus_that_refuses_eventgate_dead_letters_nothing(outbox: SqliteOutboxStore) -> None:
    bus = InMemoryEventBus()
    refusal = SenderRefused("event key rejected — check INNGEST_EVENT_KEY", "event key rejected")
    bus.fail_always(refusal)
    await outbox.append([event(n) for n in range(137)])

    outcome = await deliverer(outbox, bus).execute()

    assert (outcome.retried, outcome.dead, outcome.bus_failure) == (137, 0, refusal)
    status = await outbox.status()
    assert (status.pending, status.dead) == (137, 0)


async def test_events_the_bus_took_before_failing_are_not_sent_again(outbox: SqliteOutboxStore) -> None:
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("connection reset", accepted_ids=["event-1"]))
    await outbox.append([event(1), event(2)])

    outcome = await deliverer(outbox, bus, schedule=RetrySchedule(base=0.001, cap=0.001)).execute()
    await asyncio.sleep(0.01)
    again = await outbox.claim("relay-1", 10, 30)

    assert (outcome.delivered, outcome.retried) == (1, 1)
    assert [item.event.id for item in again] == ["event-2"]


async def test_a_refused_batch_is_split_so_only_the_poison_event_is_dead_lettered(
    outbox: SqliteOutboxStore,
) -> None:
    bus = SelectiveEventBus(is_poison=lambda e: e.id == "event-2")
    await outbox.append([event(n) for n in range(1, 5)])

    outcome = await deliverer(outbox, bus).execute()

    assert (outcome.delivered, outcome.dead) == (3, 1)
    assert sorted(e.id for e in bus.accepted) == ["event-1", "event-3", "event-4"]
    [dead] = await outbox.dead_letters()
    assert (dead.id, dead.reason) == ("event-2", "invalid event event-2")


async def test_an_unexpected_bus_error_makes_the_events_wait_their_own_retry_time(
    outbox: SqliteOutboxStore,
) -> None:
    await outbox.append([event(1)])

    outcome = await deliverer(outbox, BrokenBus()).execute()

    assert (outcome.retried, outcome.bus_failure) == (1, None)
    assert await outbox.claim("someone", 10, 30) == [], "not due before its retry time"
    assert (await outbox.status()).pending == 1


async def test_the_relay_delivers_events_as_they_are_accepted_and_stops_when_told(
    outbox: SqliteOutboxStore,
) -> None:
    bus = InMemoryEventBus()
    relay = OutboxRelay(deliverer(outbox, bus), idle_interval=10)
    outbox.on_append(relay.wake)
    running = asyncio.create_task(relay.run())

    await outbox.append([event(1)])
    for _ in range(200):
        if bus.published:
            break
        await asyncio.sleep(0.01)
    relay.stop()
    await asyncio.wait_for(running, 5)

    assert [e.id for e in bus.published] == ["event-1"]


async def test_draining_delivers_what_is_due_within_the_grace_period(outbox: SqliteOutboxStore) -> None:
    bus = InMemoryEventBus()
    await outbox.append([event(n) for n in range(2500)])

    await OutboxRelay(deliverer(outbox, bus, batch_size=1000)).drain(grace=10)

    assert len(bus.published) == 2500
    assert (await outbox.status()).pending == 0


class HangingBus:
    """Never answers, like a bus behind a dead connection."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        self.started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_a_delivery_cut_short_by_shutdown_frees_its_events_at_once(outbox: SqliteOutboxStore) -> None:
    bus = HangingBus()
    await outbox.append([event(1)])
    delivering = asyncio.create_task(deliverer(outbox, bus).execute())
    await bus.started.wait()

    delivering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivering

    assert [item.event.id for item in await outbox.claim("next-process", 10, 30)] == ["event-1"]


async def test_the_relay_reports_itself_stuck_when_no_turn_began_for_too_long(
    outbox: SqliteOutboxStore,
) -> None:
    now = [0.0]
    relay = OutboxRelay(deliverer(outbox, InMemoryEventBus()), stuck_after=100, monotonic=lambda: now[0])

    assert await relay.probe() is None
    now[0] = 101
    assert await relay.probe() == "the relay has not moved for 101 s"


async def test_the_outbox_is_ready_while_it_can_be_written(outbox: SqliteOutboxStore) -> None:
    assert await outbox.probe() is None
    await outbox.close()
    assert await outbox.probe() == "the outbox cannot be written (the outbox is not open)"


async def test_after_a_partial_batch_the_relay_gathers_events_to_send_them_together(
    outbox: SqliteOutboxStore,
) -> None:
    bus = SelectiveEventBus(is_poison=lambda _: False)
    relay = OutboxRelay(deliverer(outbox, bus), idle_interval=10, gather_interval=0.5)
    outbox.on_append(relay.wake)
    running = asyncio.create_task(relay.run())

    await outbox.append([event(0)])
    while not bus.accepted:
        await asyncio.sleep(0.01)
    for n in range(1, 6):
        await outbox.append([event(n)])
        await asyncio.sleep(0.02)
    while len(bus.accepted) < 6:
        await asyncio.sleep(0.01)
    relay.stop()
    await asyncio.wait_for(running, 5)

    assert bus.calls == [["event-0"], [f"event-{n}" for n in range(1, 6)]]


async def test_whole_batches_go_back_to_back_without_gathering(outbox: SqliteOutboxStore) -> None:
    bus = SelectiveEventBus(is_poison=lambda _: False)
    relay = OutboxRelay(deliverer(outbox, bus, batch_size=10), idle_interval=10, gather_interval=10)
    await outbox.append([event(n) for n in range(30)])
    running = asyncio.create_task(relay.run())

    async with asyncio.timeout(2):
        while len(bus.accepted) < 30:
            await asyncio.sleep(0.01)
    relay.stop()
    await asyncio.wait_for(running, 5)

    assert [len(batch) for batch in bus.calls] == [10, 10, 10]
