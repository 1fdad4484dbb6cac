"""The contract of ``EventBusPort``, which every backend passes: memory, Inngest (the loopback
stand-in), NATS JetStream (a private nats-server) and RabbitMQ (the shared broker)."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.event_ids import new_event_id
from adapters.event_json import encode_event
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent
from tests.contract.backends import BACKENDS, DEADLINE, Backend

pytestmark = pytest.mark.anyio

READINESS_WAIT = 5.0


def make_events(count: int, name: str = "app/clicked") -> list[UserEvent]:
    return [
        UserEvent(
            name=name,
            data={"user": {"id": "user-1", "name": "Ada"}, "payload": {"n": n, "text": "héllo ✓"}},
            id=new_event_id(),
            ts=1_795_000_000_000 + n,
        )
        for n in range(count)
    ]


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with BACKENDS[request.param](tmp_path) as under_test:
        yield under_test


async def probe_until(backend: Backend, *, ready: bool) -> str | None:
    """Probe until the bus is (or is not) ready, for a few seconds at most; the last answer."""
    deadline = time.monotonic() + READINESS_WAIT
    while True:
        answer = await backend.bus.probe()
        if (answer is None) == ready or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def test_returns_the_ids_in_order(backend: Backend) -> None:
    events = make_events(5)

    assert await backend.bus.publish(events) == [event.id for event in events]


async def test_publishing_nothing_returns_nothing(backend: Backend) -> None:
    assert await backend.bus.publish([]) == []
    assert await backend.consume() == []


async def test_publishes_a_thousand_events_at_once_in_order(backend: Backend) -> None:
    events = make_events(1000)

    ids = await backend.bus.publish(events)

    assert ids == [event.id for event in events]
    assert [message.message_id for message in await backend.consume()] == ids


async def test_32_concurrent_publishers_each_get_their_own_ids(backend: Backend) -> None:
    batches = [make_events(10, name=f"app/publisher-{n}") for n in range(32)]

    results = await asyncio.gather(*(backend.bus.publish(batch) for batch in batches))

    assert results == [[event.id for event in batch] for batch in batches]
    consumed = Counter(message.message_id for message in await backend.consume())
    assert consumed == Counter(event.id for batch in batches for event in batch)


async def test_an_event_published_twice_is_kept_once_by_whoever_deduplicates(backend: Backend) -> None:
    [event] = make_events(1)

    await backend.bus.publish([event])
    await backend.bus.publish([event])

    ids = [message.message_id for message in await backend.consume()]
    if backend.deduplication == "broker" and backend.shows_deduplication:
        assert ids == [event.id]
    else:  # every copy carries the id a consumer (or a broker the stand-in does not model) drops it by
        assert ids in ([event.id], [event.id, event.id])


async def test_a_consumer_reads_the_documented_body_and_properties(backend: Backend) -> None:
    events = make_events(2, name="app/user.clicked") + make_events(1, name="odd name*with>.marks")

    await backend.bus.publish(events)

    consumed = await backend.consume()
    assert [message.body for message in consumed] == [encode_event(event) for event in events]
    assert [message.message_id for message in consumed] == [event.id for event in events]
    assert {message.content_type for message in consumed} == {"application/json"}
    assert [message.address for message in consumed] == [backend.address_of(event) for event in events]
    for message, event in zip(consumed, events, strict=True):
        if backend.name == "rabbitmq":
            assert message.properties["delivery_mode"] == 2
            timestamp = message.properties["timestamp"]
            assert getattr(timestamp, "timestamp", lambda: None)() == event.ts // 1000
        if backend.name == "nats":
            assert message.properties["headers"] == {
                "Nats-Msg-Id": event.id,
                "Content-Type": "application/json",
            }


async def test_an_unreachable_bus_is_unavailable_within_the_deadline(backend: Backend) -> None:
    backend.go_away()
    started = time.monotonic()

    with pytest.raises(EventBusUnavailable) as failure:
        await backend.bus.publish(make_events(3))

    assert time.monotonic() - started < DEADLINE + 1.0
    assert failure.value.accepted_ids == ()
    backend.come_back()


async def test_a_refused_event_is_rejected_with_the_reason(backend: Backend) -> None:
    [event] = make_events(1)
    refused, words = await backend.refuse_next(event)

    with pytest.raises(EventRejected) as failure:
        await backend.bus.publish([refused])

    assert words in failure.value.reason
    assert failure.value.accepted_ids == ()


async def test_the_readiness_probe_goes_red_and_green_again(backend: Backend) -> None:
    assert await probe_until(backend, ready=True) is None

    backend.go_away()
    reason = await probe_until(backend, ready=False)
    assert reason

    backend.come_back()
    assert await probe_until(backend, ready=True) is None
    [event] = make_events(1)
    assert await backend.bus.publish([event]) == [event.id]
