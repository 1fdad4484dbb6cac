"""The relay backs off from the bus, not from the events: it probes a failing bus and resumes at once."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.bus_outage import ProbeSchedule
from application.deliver_outbox_events import DeliverOutboxEvents
from application.relay import TRUST_BUS_PROBE_FOR, OutboxRelay
from domain.errors import EventBusUnavailable, SenderRefused
from domain.event import UserEvent
from tests.fakes import SwitchableEventBus

pytestmark = pytest.mark.anyio

PROBES = ProbeSchedule(first=0.02, cap=0.2, max_retry_after=60.0)
DOWN = EventBusUnavailable("connection refused")
KEY_REJECTED = SenderRefused("event key rejected — check INNGEST_EVENT_KEY (HTTP 401)", "event key rejected")


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": n}, id=f"event-{n}", ts=n)


@asynccontextmanager
async def relay_running(
    outbox: SqliteOutboxStore, bus: SwitchableEventBus, *, pauses: list[str] | None = None
) -> AsyncIterator[OutboxRelay]:
    """The relay as the service runs it: the bus's own probe first, real batches of 1,000 after."""
    relay = OutboxRelay(
        DeliverOutboxEvents(outbox, bus, owner="relay-1", batch_size=1000),
        bus_probe=bus,
        probes=PROBES,
        on_pause=None if pauses is None else pauses.append,
        idle_interval=0.05,
    )
    outbox.on_append(relay.wake)
    running = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(running, 5)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("probe_sees_outages", [True, False], ids=["probe-sees-it", "batch-is-the-probe"])
async def test_after_an_outage_the_backlog_goes_at_once_at_full_speed(
    outbox: SqliteOutboxStore, probe_sees_outages: bool
) -> None:
    bus = SwitchableEventBus(probe_sees_outages=probe_sees_outages)
    bus.failure = DOWN
    await outbox.append([event(n) for n in range(3000)])
    async with relay_running(outbox, bus):
        await asyncio.sleep(1.5)
        back = time.monotonic()
        bus.failure = None
        await until(lambda: len(bus.accepted) == 3000)

    first, *_, last = bus.delivered_at
    assert first - back <= PROBES.cap + 0.3, "the first probe after the bus is back finds it"
    assert last - first < 1.0, "no event waits a retry time of its own after an outage"
    assert [e.id for e in bus.accepted] == [f"event-{n}" for n in range(3000)]


async def test_while_the_bus_is_down_it_is_probed_one_probe_at_a_time_a_capped_interval_apart(
    outbox: SqliteOutboxStore,
) -> None:
    bus = SwitchableEventBus()
    bus.failure = DOWN
    await outbox.append([event(1)])
    async with relay_running(outbox, bus):
        await asyncio.sleep(2)

    attempts = sorted(bus.probes + bus.publishes)
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert bus.most_at_once == 1
    assert len(bus.publishes) <= 1 + len(bus.probes) // TRUST_BUS_PROBE_FOR, "the probe held batches back"
    assert 8 <= len(attempts) <= 2 / (PROBES.cap / 2) + 5
    assert all(gap <= PROBES.cap + 0.15 for gap in gaps)
    assert all(gap >= PROBES.cap / 2 - 0.01 for gap in gaps[4:]), "after the ramp, never in a tight loop"


async def test_a_retry_after_holds_the_next_probe_back(outbox: SqliteOutboxStore) -> None:
    bus = SwitchableEventBus(probe_sees_outages=False)
    bus.failure = EventBusUnavailable("slow down", retry_after=0.6)
    await outbox.append([event(1)])
    async with relay_running(outbox, bus):
        await asyncio.sleep(1.5)

    gaps = [later - earlier for earlier, later in itertools.pairwise(bus.publishes)]
    assert len(bus.publishes) >= 2
    assert all(gap >= 0.6 for gap in gaps)


async def test_a_bus_refusing_eventgate_keeps_every_event_pending_and_the_relay_not_ready_until_it_takes_them(
    outbox: SqliteOutboxStore,
) -> None:
    bus = SwitchableEventBus(probe_sees_outages=False)
    bus.failure = KEY_REJECTED
    pauses: list[str] = []
    await outbox.append([event(n) for n in range(137)])
    async with relay_running(outbox, bus, pauses=pauses) as relay:
        await until(lambda: len(bus.publishes) >= 5)
        status = await outbox.status()
        not_ready = await relay.probe()

        bus.failure = None
        await until(lambda: len(bus.accepted) == 137)
        ready = await relay.probe()

    assert (status.pending, status.dead) == (137, 0)
    assert not_ready == (
        "delivery paused: event key rejected (the event bus refuses eventgate; events wait in the outbox)"
    )
    assert pauses == ["event key rejected"]
    assert ready is None
    assert (await outbox.status()).pending == 0


async def test_a_bus_refusing_eventgate_stays_refused_while_its_own_probe_fails_too(
    outbox: SqliteOutboxStore,
) -> None:
    """A broker that rejects the credentials fails its probe as well (it cannot be connected to): the
    probe cannot tell that from an outage, so the refusal stands, said and counted once."""
    bus = SwitchableEventBus(probe_sees_outages=True)
    bus.failure = KEY_REJECTED
    pauses: list[str] = []
    await outbox.append([event(n) for n in range(10)])
    async with relay_running(outbox, bus, pauses=pauses) as relay:
        await until(lambda: len(bus.probes) >= TRUST_BUS_PROBE_FOR + 2)
        not_ready = await relay.probe()
        bus.failure = None
        await until(lambda: len(bus.accepted) == 10)

    assert pauses == ["event key rejected"]
    assert not_ready is not None
    assert "event key rejected" in not_ready
    assert len(bus.publishes) >= 2, "a batch still goes every few failed probes"


class LyingProbe(SwitchableEventBus):
    """A bus whose own probe says it is down, whatever it is."""

    async def probe(self) -> str | None:
        await super().probe()
        return "unreachable, says the probe"


async def test_a_probe_that_keeps_failing_holds_real_batches_back_for_a_few_probes_only(
    outbox: SqliteOutboxStore,
) -> None:
    bus = LyingProbe()
    bus.failure = DOWN
    await outbox.append([event(1)])
    async with relay_running(outbox, bus):
        await until(lambda: len(bus.publishes) == 1)
        bus.failure = None
        await until(lambda: len(bus.accepted) == 1)

    assert len(bus.probes) == TRUST_BUS_PROBE_FOR


async def test_draining_at_shutdown_sends_nothing_while_the_bus_fails(outbox: SqliteOutboxStore) -> None:
    bus = SwitchableEventBus()
    bus.failure = DOWN
    await outbox.append([event(1)])
    async with relay_running(outbox, bus) as relay:
        await until(lambda: len(bus.publishes) == 1)
        await until(lambda: len(bus.probes) >= 1)

    sent = len(bus.publishes)
    await relay.drain(grace=5)

    assert len(bus.publishes) == sent
    assert (await outbox.status()).pending == 1
