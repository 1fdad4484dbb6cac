"""Metrics move as the relay moves events from a real SQLite outbox: published, retried, failed, buried."""

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from adapters.memory import InMemoryEventBus
from adapters.metrics.metered import MeteredEventBus, MeteredOutbox
from adapters.metrics.registry import Metrics
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.deliver_outbox_events import DeliverOutboxEvents
from application.ports import ProbedEventBus
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent

pytestmark = pytest.mark.anyio


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": n}, id=f"event-{n}", ts=0)


class PoisonAwareBus:
    """Refuses for good every batch that carries ``event-<poison>``, like Inngest with a 400."""

    def __init__(self, poison: int) -> None:
        self._poison = f"event-{poison}"

    async def probe(self) -> str | None:
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        if any(event.id == self._poison for event in events):
            raise EventRejected(f"invalid event {self._poison}")
        return [event.id for event in events]


def metered_relay(
    outbox: SqliteOutboxStore, bus: ProbedEventBus, registry: CollectorRegistry
) -> DeliverOutboxEvents:
    metrics = Metrics(registry)
    return DeliverOutboxEvents(
        MeteredOutbox(outbox, metrics, "inngest"),
        MeteredEventBus(bus, metrics, "inngest"),
        owner="relay-1",
        unit_random=lambda: 0.0,
    )


def counted(registry: CollectorRegistry, counter: str) -> float | None:
    return registry.get_sample_value(f"eventgate_events_{counter}_total", {"backend": "inngest"})


async def test_a_delivered_batch_counts_as_published_in_one_batch(outbox: SqliteOutboxStore) -> None:
    registry = CollectorRegistry()
    await outbox.append([event(n) for n in range(3)])

    await metered_relay(outbox, InMemoryEventBus(), registry).execute()

    assert counted(registry, "published") == 3
    assert registry.get_sample_value("eventgate_publish_batch_size_events_sum", {"backend": "inngest"}) == 3
    assert registry.get_sample_value("eventgate_delivery_latency_seconds_count", {"backend": "inngest"}) == 3


async def test_a_poisoned_batch_counts_as_failed_then_the_rest_published_and_the_poison_dead_lettered(
    outbox: SqliteOutboxStore,
) -> None:
    registry = CollectorRegistry()
    await outbox.append([event(n) for n in range(3)])

    outcome = await metered_relay(outbox, PoisonAwareBus(poison=1), registry).execute()

    assert (outcome.delivered, outcome.dead) == (2, 1)
    assert counted(registry, "failed") == 3 + 1
    assert counted(registry, "published") == 2
    assert counted(registry, "dead_lettered") == 1
    assert (await outbox.status()).dead == 1


async def test_an_unavailable_bus_counts_the_batch_as_retried_until_it_is_published(
    outbox: SqliteOutboxStore,
) -> None:
    registry = CollectorRegistry()
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("down", retry_after=0.0))
    await outbox.append([event(n) for n in range(2)])
    deliver = metered_relay(outbox, bus, registry)

    await deliver.execute()
    await deliver.execute()

    assert counted(registry, "retried") == 2
    assert counted(registry, "published") == 2
