"""The metered decorators: every publish and dead letter counted, nothing else changed."""

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from adapters.event_json import as_encoded
from adapters.memory import InMemoryEventBus
from adapters.metrics.metered import MAX_PAUSE_CAUSES, DeliveryPauses, MeteredEventBus, MeteredOutbox
from adapters.metrics.registry import Metrics
from application.ports import ClaimedEvent, EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed, SenderRefused
from domain.event import UserEvent
from tests.fakes import RecordingOutbox

pytestmark = pytest.mark.anyio

NOW_S = 1_800_000_000.0
NOW_MS = int(NOW_S * 1000)


def event(event_id: str, *, accepted_ms_ago: int = 0) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}}, id=event_id, ts=NOW_MS - accepted_ms_ago)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def metered(bus: InMemoryEventBus) -> tuple[MeteredEventBus, CollectorRegistry]:
    registry = CollectorRegistry()
    return MeteredEventBus(bus, Metrics(registry), "memory", wall_clock=lambda: NOW_S), registry


class ExplodingBus:
    """A bus with a bug: it raises what no bus should."""

    async def probe(self) -> str | None:
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        raise RuntimeError("bug in the adapter")

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        raise RuntimeError("bug in the adapter")


async def test_an_acknowledged_publish_counts_its_events_published_and_its_batch_size() -> None:
    bus, registry = metered(InMemoryEventBus())

    ids = await bus.publish([event("a"), event("b"), event("c")])
    await bus.publish([event("d")])

    assert ids == ["a", "b", "c"]
    assert value(registry, "eventgate_events_published_total", backend="memory") == 4
    assert value(registry, "eventgate_publish_batch_size_events_count", backend="memory") == 2
    assert value(registry, "eventgate_publish_batch_size_events_sum", backend="memory") == 4
    assert value(registry, "eventgate_publish_batch_size_events_bucket", backend="memory", le="2.0") == 1


async def test_delivery_latency_is_observed_per_event_from_its_ts_to_the_acknowledgement() -> None:
    bus, registry = metered(InMemoryEventBus())

    await bus.publish([event("a", accepted_ms_ago=3), event("b", accepted_ms_ago=90_000)])

    latency = "eventgate_delivery_latency_seconds"
    assert value(registry, f"{latency}_count", backend="memory") == 2
    assert value(registry, f"{latency}_sum", backend="memory") == pytest.approx(90.003)
    assert value(registry, f"{latency}_bucket", backend="memory", le="0.005") == 1
    assert value(registry, f"{latency}_bucket", backend="memory", le="60.0") == 1
    assert value(registry, f"{latency}_bucket", backend="memory", le="120.0") == 2


async def test_an_encoded_publish_is_counted_as_a_publish_is_and_reaches_the_bus_unchanged() -> None:
    inner = InMemoryEventBus()
    bus, registry = metered(inner)
    encoded = [as_encoded(event("a", accepted_ms_ago=3)), as_encoded(event("b", accepted_ms_ago=90_000))]

    ids = await bus.publish_encoded(encoded)

    assert ids == ["a", "b"]
    assert inner.published_encoded == encoded
    latency = "eventgate_delivery_latency_seconds"
    assert value(registry, "eventgate_events_published_total", backend="memory") == 2
    assert value(registry, "eventgate_publish_batch_size_events_count", backend="memory") == 1
    assert value(registry, f"{latency}_count", backend="memory") == 2
    assert value(registry, f"{latency}_sum", backend="memory") == pytest.approx(90.003)
    assert value(registry, f"{latency}_bucket", backend="memory", le="0.005") == 1
    assert value(registry, f"{latency}_bucket", backend="memory", le="60.0") == 1
    assert value(registry, f"{latency}_bucket", backend="memory", le="120.0") == 2


async def test_a_failed_encoded_publish_counts_only_what_the_bus_took() -> None:
    inner = InMemoryEventBus()
    failure = EventBusUnavailable("down", accepted_ids=["a"])
    inner.fail_next(failure)
    bus, registry = metered(inner)

    with pytest.raises(EventBusUnavailable) as raised:
        await bus.publish_encoded([as_encoded(event("a", accepted_ms_ago=2_000)), as_encoded(event("b"))])

    assert raised.value is failure
    assert value(registry, "eventgate_events_published_total", backend="memory") == 1
    assert value(registry, "eventgate_delivery_latency_seconds_count", backend="memory") == 1
    assert value(registry, "eventgate_delivery_latency_seconds_sum", backend="memory") == pytest.approx(2.0)


async def test_an_event_stamped_in_the_future_is_observed_as_delivered_at_once() -> None:
    bus, registry = metered(InMemoryEventBus())

    await bus.publish([event("a", accepted_ms_ago=-5_000)])

    assert value(registry, "eventgate_delivery_latency_seconds_sum", backend="memory") == 0
    assert value(registry, "eventgate_delivery_latency_seconds_count", backend="memory") == 1


@pytest.mark.parametrize(
    "failure",
    [
        EventBusUnavailable("down", 3.0, accepted_ids=["a"]),
        SenderRefused("event key rejected", "event key rejected", accepted_ids=["a"]),
        EventRejected("invalid event", accepted_ids=["a"]),
    ],
    ids=["unavailable", "sender-refused", "rejected"],
)
async def test_a_failed_publish_counts_only_what_the_bus_took_and_raises_the_same_error(
    failure: PublishFailed,
) -> None:
    inner = InMemoryEventBus()
    inner.fail_next(failure)
    bus, registry = metered(inner)

    with pytest.raises(PublishFailed) as raised:
        await bus.publish([event("a", accepted_ms_ago=2_000), event("b"), event("c")])

    assert raised.value is failure
    assert value(registry, "eventgate_events_published_total", backend="memory") == 1
    assert value(registry, "eventgate_delivery_latency_seconds_count", backend="memory") == 1
    assert value(registry, "eventgate_delivery_latency_seconds_sum", backend="memory") == pytest.approx(2.0)
    assert value(registry, "eventgate_publish_batch_size_events_count", backend="memory") == 0
    for counter in ("retried", "failed"):
        assert value(registry, f"eventgate_events_{counter}_total", backend="memory") == 0, "counted by fate"


async def test_an_unexpected_error_passes_through_uncounted() -> None:
    registry = CollectorRegistry()
    bus = MeteredEventBus(ExplodingBus(), Metrics(registry), "memory")

    with pytest.raises(RuntimeError, match="bug in the adapter"):
        await bus.publish([event("a")])
    with pytest.raises(RuntimeError, match="bug in the adapter"):
        await bus.publish_encoded([as_encoded(event("a"))])

    assert value(registry, "eventgate_events_published_total", backend="memory") == 0


async def test_an_empty_publish_counts_nothing() -> None:
    bus, registry = metered(InMemoryEventBus())

    assert await bus.publish([]) == []

    assert value(registry, "eventgate_publish_batch_size_events_count", backend="memory") == 0


async def test_counters_of_the_backend_show_zero_before_anything_is_published() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    MeteredEventBus(InMemoryEventBus(), metrics, "memory")
    MeteredOutbox(RecordingOutbox(), metrics, "memory")

    for counter in ("published", "retried", "failed", "dead_lettered"):
        assert registry.get_sample_value(f"eventgate_events_{counter}_total", {"backend": "memory"}) == 0


async def test_the_probe_of_the_inner_bus_is_forwarded() -> None:
    inner = InMemoryEventBus()
    bus, _ = metered(inner)

    assert await bus.probe() is None
    inner.fail_always(EventBusUnavailable("unreachable"))
    assert await bus.probe() == "unreachable"


async def test_the_metered_outbox_forwards_every_call_unchanged() -> None:
    claimed = [ClaimedEvent(as_encoded(event("a")), attempts=2)]
    inner = RecordingOutbox(claimed)
    outbox = MeteredOutbox(inner, Metrics(CollectorRegistry()), "inngest")

    assert await outbox.claim("relay-1", 10, 60.0) == claimed
    await outbox.mark_delivered("relay-1", ["a"])
    await outbox.retry_later("relay-1", ["b"], 1.5, "down")
    await outbox.dead_letter("relay-1", ["c"], "invalid event")

    assert inner.calls == [
        ("claim", "relay-1", 10, 60.0),
        ("mark_delivered", "relay-1", ["a"]),
        ("retry_later", "relay-1", ["b"], 1.5, "down"),
        ("dead_letter", "relay-1", ["c"], "invalid event"),
    ]


async def test_the_metered_outbox_counts_each_dead_lettered_id_as_failed_and_dead_lettered() -> None:
    registry = CollectorRegistry()
    outbox = MeteredOutbox(RecordingOutbox(), Metrics(registry), "inngest")

    await outbox.dead_letter("relay-1", ["a"], "invalid event")
    await outbox.dead_letter("relay-1", ["b", "c"], "invalid event")
    await outbox.dead_letter("relay-1", [], "nothing")

    assert value(registry, "eventgate_events_dead_lettered_total", backend="inngest") == 3
    assert value(registry, "eventgate_events_failed_total", backend="inngest") == 3


async def test_the_metered_outbox_counts_an_event_retried_at_its_first_failure_only() -> None:
    registry = CollectorRegistry()
    first_try, second_try = as_encoded(event("a")), as_encoded(event("b"))
    inner = RecordingOutbox([ClaimedEvent(first_try, attempts=0), ClaimedEvent(second_try, attempts=1)])
    outbox = MeteredOutbox(inner, Metrics(registry), "inngest")

    await outbox.claim("relay-1", 10, 60.0)
    await outbox.retry_later("relay-1", ["a", "b"], 0.0, "down")
    await outbox.retry_later("relay-1", ["a"], 0.0, "down")
    inner.claimable = [ClaimedEvent(first_try, attempts=1), ClaimedEvent(second_try, attempts=2)]
    await outbox.claim("relay-1", 10, 60.0)
    await outbox.retry_later("relay-1", ["a", "b"], 0.0, "down")

    assert value(registry, "eventgate_events_retried_total", backend="inngest") == 1


def test_pauses_are_counted_by_the_slug_of_their_cause_and_beyond_the_limit_as_other() -> None:
    registry = CollectorRegistry()
    pauses = DeliveryPauses(Metrics(registry), "inngest")

    pauses("event key rejected")
    pauses("event key rejected")
    pauses("bus unavailable")
    for n in range(MAX_PAUSE_CAUSES):
        pauses(f"cause {n}")

    name = "eventgate_delivery_pauses_total"
    assert value(registry, name, backend="inngest", cause="event-key-rejected") == 2
    assert value(registry, name, backend="inngest", cause="bus-unavailable") == 1
    assert value(registry, name, backend="inngest", cause="other") == 2


async def test_the_owners_calls_pass_through_uncounted() -> None:
    inner = RecordingOutbox()
    registry = CollectorRegistry()
    outbox = MeteredOutbox(inner, Metrics(registry), "memory")

    await outbox.hold_owner("relay")
    assert await outbox.release_dead_owners() == 0

    assert inner.calls == [("hold_owner", "relay"), ("release_dead_owners",)]
