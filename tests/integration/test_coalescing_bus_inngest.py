"""The coalescing bus in front of the real Inngest bus, against the loopback event API stand-in."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import pytest

from adapters.coalescing import CoalescingEventBus
from adapters.event_json import as_encoded
from adapters.inngest import (
    BatchLimits,
    HttpClientSettings,
    InngestEventBus,
    RetryPolicy,
    batches,
    open_http_client,
)
from adapters.inngest.retry import Clock
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent
from tests.containers import inngest_endpoint_from
from tests.integration.inngest_stand_in import EventApiStandIn, Reply

KEY = "evtkey-coalescing-0123456789abcdef"
LINGER = 0.05
DEFAULT_RETRY = RetryPolicy()
DEFAULT_LIMITS = BatchLimits()


async def no_sleep(_: float) -> None:
    """Retries cost no test time."""


class CountingBus:
    """Passes publishes to the Inngest bus, recording how many events each one carried."""

    def __init__(self, inner: InngestEventBus) -> None:
        self.inner = inner
        self.publishes: list[int] = []

    async def probe(self) -> str | None:
        return await self.inner.probe()

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        self.publishes.append(len(events))
        return await self.inner.publish(events)


def make_events(count: int, padding: str = "") -> list[UserEvent]:
    return [
        UserEvent(
            name="app/clicked", data={"n": n, "pad": padding}, id=f"evt-{n:05d}", ts=1_795_000_000_000 + n
        )
        for n in range(count)
    ]


def error_body(message: str, status: int, ids: list[str]) -> bytes:
    return json.dumps({"ids": ids, "status": status, "error": message}).encode()


@pytest.fixture
def stand_in() -> Iterator[EventApiStandIn]:
    with EventApiStandIn() as server:
        yield server


@asynccontextmanager
async def coalescing(
    stand_in: EventApiStandIn,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    limits: BatchLimits = DEFAULT_LIMITS,
    max_bytes: int | None = None,
) -> AsyncIterator[tuple[CoalescingEventBus, CountingBus]]:
    endpoint = inngest_endpoint_from({"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": stand_in.url})
    async with open_http_client(HttpClientSettings()) as client:
        inner = CountingBus(
            InngestEventBus(client, endpoint, retry=retry, limits=limits, clock=Clock(sleep=no_sleep))
        )
        bus = CoalescingEventBus(inner, linger=LINGER, max_bytes=max_bytes)
        try:
            yield bus, inner
        finally:
            await bus.close()


async def publish_each(bus: CoalescingEventBus, events: list[UserEvent]) -> list[list[str] | BaseException]:
    """Publish every event from its own caller, all at once, as concurrent HTTP requests do."""
    return await asyncio.gather(*(bus.publish([event]) for event in events), return_exceptions=True)


@pytest.mark.anyio
async def test_concurrent_publishes_travel_to_the_event_api_in_one_request(stand_in: EventApiStandIn) -> None:
    events = make_events(50)
    async with coalescing(stand_in) as (bus, _):
        results = await publish_each(bus, events)

    assert results == [[event.id] for event in events]
    [request] = stand_in.requests
    assert request.json() == [event.to_wire() for event in events]


@pytest.mark.anyio
async def test_a_400_part_way_fails_only_the_callers_whose_events_the_server_did_not_take(
    stand_in: EventApiStandIn,
) -> None:
    events = make_events(20)
    stand_in.script(Reply(400, error_body("invalid event", 400, [f"01TAKEN{n}" for n in range(8)] + [""])))
    async with coalescing(stand_in) as (bus, _):
        results = await publish_each(bus, events)

    assert results[:8] == [[event.id] for event in events[:8]]
    for result in results[8:]:
        assert isinstance(result, EventRejected)
        assert result.accepted_ids == ()
        assert "8 of 20 events were published" in result.reason
    assert len(stand_in.requests) == 1


@pytest.mark.anyio
async def test_a_503_reaches_every_caller_as_unavailable_with_the_servers_retry_after(
    stand_in: EventApiStandIn,
) -> None:
    stand_in.script(Reply(503, error_body("overloaded", 503, []), {"retry-after": "4"}))
    async with coalescing(stand_in, retry=RetryPolicy(max_attempts=1)) as (bus, _):
        results = await publish_each(bus, make_events(5))
        after = await bus.publish(make_events(1))

    for result in results:
        assert isinstance(result, EventBusUnavailable)
        assert result.retry_after == 4.0
    assert after == ["evt-00000"]


@pytest.mark.anyio
async def test_max_bytes_measured_like_the_wire_makes_each_batch_exactly_one_request(
    stand_in: EventApiStandIn,
) -> None:
    events = make_events(40, padding="x" * 200)
    limit = 2048
    async with coalescing(stand_in, limits=BatchLimits(max_bytes=limit), max_bytes=limit) as (bus, inner):
        results = await publish_each(bus, events)

    assert results == [[event.id] for event in events]
    assert len(stand_in.requests) == len(inner.publishes) > 1
    assert all(len(request.body) <= limit for request in stand_in.requests)
    as_split_by_the_bus = batches.split([as_encoded(event) for event in events], BatchLimits(max_bytes=limit))
    assert sorted(len(request.json()) for request in stand_in.requests) == sorted(inner.publishes)
    assert sorted(inner.publishes) == sorted(len(body.events) for body in as_split_by_the_bus)
