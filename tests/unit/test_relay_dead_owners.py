"""The relay and the owners of leases: it marks itself alive, and frees dead relays' events, seldom."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from adapters.event_json import as_encoded
from adapters.memory import InMemoryEventBus
from application.deliver_outbox_events import DeliverOutboxEvents
from application.ports import ClaimedEvent
from application.relay import OutboxRelay
from domain.event import UserEvent
from tests.fakes import RecordingOutbox

pytestmark = pytest.mark.anyio

EVERY = 5.0


def claimed(n: int) -> ClaimedEvent:
    return ClaimedEvent(as_encoded(UserEvent(name="app/test", data={}, id=f"event-{n}", ts=n)), attempts=0)


class OutboxThatCannotTellTheDead(RecordingOutbox):
    async def hold_owner(self, owner: str) -> None:
        raise OSError("read-only file system")

    async def release_dead_owners(self) -> int:
        raise OSError("read-only file system")


def names(outbox: RecordingOutbox, name: str) -> int:
    return sum(1 for call in outbox.calls if call[0] == name)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.005)


@asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    """The relay's loop while the context lasts, stopped without the drain (this outbox never empties)."""
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        relay.stop()
        await task


def relay_over(outbox: RecordingOutbox, now: list[float]) -> OutboxRelay:
    """A relay that claims one event each turn, pausing a moment between turns, on a clock of ``now``."""
    deliver = DeliverOutboxEvents(outbox, InMemoryEventBus(), owner="relay-1", batch_size=2)
    return OutboxRelay(
        deliver, idle_interval=10, gather_interval=0.001, dead_owners_every=EVERY, monotonic=lambda: now[0]
    )


async def test_the_relay_marks_itself_alive_and_frees_dead_relays_events_before_its_first_claim() -> None:
    outbox = RecordingOutbox()
    async with running(relay_over(outbox, [0.0])):
        await until(lambda: names(outbox, "claim") > 0)

    assert outbox.calls[:2] == [("hold_owner", "relay-1"), ("release_dead_owners",)]
    assert outbox.calls[2][0] == "claim"
    assert names(outbox, "hold_owner") == 1


async def test_the_relay_looks_for_dead_relays_once_per_interval_however_many_batches_it_delivers() -> None:
    outbox, now = RecordingOutbox([claimed(1)]), [0.0]
    async with running(relay_over(outbox, now)):
        await until(lambda: names(outbox, "claim") >= 20)
        looks_at_first = names(outbox, "release_dead_owners")
        now[0] += EVERY
        batches = names(outbox, "claim")
        await until(lambda: names(outbox, "claim") >= batches + 20)
        looks_after_an_interval = names(outbox, "release_dead_owners")

    assert (looks_at_first, looks_after_an_interval) == (1, 2)


async def test_a_relay_whose_outbox_cannot_tell_the_dead_delivers_all_the_same_and_looks_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox, now = OutboxThatCannotTellTheDead([claimed(1)]), [0.0]
    async with running(relay_over(outbox, now)):
        await until(lambda: names(outbox, "mark_delivered") >= 3)
        now[0] += EVERY
        await until(lambda: len([r for r in caplog.records if "relays that died" in r.getMessage()]) >= 2)

    said = [record.getMessage() for record in caplog.records]
    assert any("could not mark itself alive" in line for line in said)
    assert len([line for line in said if "looking for relays that died failed" in line]) == 2
