"""Metrics count events, not attempts, as the relay moves them from a real SQLite outbox."""

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from adapters.memory import InMemoryEventBus
from adapters.metrics.metered import MeteredEventBus, MeteredOutbox
from adapters.metrics.registry import Metrics
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.deliver_outbox_events import DeliverOutboxEvents
from application.ports import DeliveryBus, EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
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
        return self._judge([event.id for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        return self._judge([event.id for event in events])

    def _judge(self, ids: list[str]) -> list[str]:
        if self._poison in ids:
            raise EventRejected(f"invalid event {self._poison}")
        return ids


def metered_relay(
    outbox: SqliteOutboxStore, bus: DeliveryBus, registry: CollectorRegistry
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


async def test_a_poisoned_batch_counts_the_poison_once_as_failed_and_dead_lettered_and_the_rest_published(
    outbox: SqliteOutboxStore,
) -> None:
    registry = CollectorRegistry()
    await outbox.append([event(n) for n in range(137)])

    outcome = await metered_relay(outbox, PoisonAwareBus(poison=1), registry).execute()

    assert (outcome.delivered, outcome.dead) == (136, 1)
    assert counted(registry, "failed") == 1
    assert counted(registry, "dead_lettered") == 1
    assert counted(registry, "published") == 136
    assert counted(registry, "retried") == 0
    assert (await outbox.status()).dead == 1


async def test_137_events_of_a_bus_refusing_eventgate_count_137_retried_and_none_failed_however_many_tries(
    outbox: SqliteOutboxStore,
) -> None:
    registry = CollectorRegistry()
    bus = InMemoryEventBus()
    bus.fail_always(SenderRefused("event key rejected — check INNGEST_EVENT_KEY", "event key rejected"))
    await outbox.append([event(n) for n in range(137)])
    deliver = metered_relay(outbox, bus, registry)

    for _ in range(3):
        await deliver.execute()
    bus.fail_always(None)
    await deliver.execute()

    assert counted(registry, "retried") == 137
    assert counted(registry, "failed") == 0
    assert counted(registry, "dead_lettered") == 0
    assert counted(registry, "published") == 137


async def test_one_event_retried_nine_times_counts_once_as_retried(outbox: SqliteOutboxStore) -> None:
    registry = CollectorRegistry()
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("down"), times=9)
    await outbox.append([event(1)])
    deliver = metered_relay(outbox, bus, registry)

    for _ in range(10):
        await deliver.execute()

    assert counted(registry, "retried") == 1
    assert counted(registry, "published") == 1
