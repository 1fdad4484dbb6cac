"""The contract of ``EventBusPort`` and ``EncodedEventBusPort``, which every backend passes: memory,
Inngest (the loopback stand-in), NATS JetStream (a private nats-server) and RabbitMQ (the shared broker).

The tests that take ``publish`` run twice: with events (``publish``, direct mode's path), and with the
same events encoded (``publish_encoded``, the relay's path)."""

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from adapters.event_ids import new_event_id
from adapters.event_json import as_encoded, encode_event
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.ports import EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
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


Publish = Callable[[Backend, Sequence[UserEvent]], Awaitable[list[str]]]


async def publish_events(backend: Backend, events: Sequence[UserEvent]) -> list[str]:
    return await backend.bus.publish(events)


async def publish_encoded(backend: Backend, events: Sequence[UserEvent]) -> list[str]:
    return await backend.bus.publish_encoded([as_encoded(event) for event in events])


@pytest.fixture(params=["events", "encoded"])
def publish(request: pytest.FixtureRequest) -> Publish:
    return publish_events if request.param == "events" else publish_encoded


def spelled_with_escapes(event: UserEvent) -> EncodedEvent:
    """The event's JSON with its non-ASCII characters written as ``\\u`` escapes, which the encoder
    never writes: a bus that decoded the event and encoded it again would send other bytes."""
    body = encode_event(event).decode()
    escaped = "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in body).encode()
    assert escaped != encode_event(event)
    return EncodedEvent(event.id, event.name, event.ts, escaped)


async def probe_until(backend: Backend, *, ready: bool) -> str | None:
    """Probe until the bus is (or is not) ready, for a few seconds at most; the last answer."""
    deadline = time.monotonic() + READINESS_WAIT
    while True:
        answer = await backend.bus.probe()
        if (answer is None) == ready or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def test_returns_the_ids_in_order(backend: Backend, publish: Publish) -> None:
    events = make_events(5)

    assert await publish(backend, events) == [event.id for event in events]


async def test_publishing_nothing_returns_nothing(backend: Backend, publish: Publish) -> None:
    assert await publish(backend, []) == []
    assert await backend.consume() == []


async def test_publishes_a_thousand_events_at_once_in_order(backend: Backend, publish: Publish) -> None:
    events = make_events(1000)

    ids = await publish(backend, events)

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


async def test_a_consumer_reads_the_documented_body_and_properties(
    backend: Backend, publish: Publish
) -> None:
    events = make_events(2, name="app/user.clicked") + make_events(1, name="odd name*with>.marks")

    await publish(backend, events)

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


async def test_an_unreachable_bus_is_unavailable_within_the_deadline(
    backend: Backend, publish: Publish
) -> None:
    backend.go_away()
    started = time.monotonic()

    with pytest.raises(EventBusUnavailable) as failure:
        await publish(backend, make_events(3))

    assert time.monotonic() - started < DEADLINE + 1.0
    assert failure.value.accepted_ids == ()
    backend.come_back()


async def test_a_refused_event_is_rejected_with_the_reason(backend: Backend, publish: Publish) -> None:
    [event] = make_events(1)
    refused, words = await backend.refuse_next(event)

    with pytest.raises(EventRejected) as failure:
        await publish(backend, [refused])

    assert words in failure.value.reason
    assert failure.value.accepted_ids == ()


async def test_credentials_the_server_rejects_refuse_eventgate_not_the_events(backend: Backend) -> None:
    """Every publish fails as a refusal of eventgate (the relay pauses, keeps the events, and is not
    ready), within the deadline, with nothing taken: never as a verdict on the events."""
    wrong = backend.with_wrong_credentials()
    if wrong is None:
        pytest.skip(f"the {backend.name} bus takes no credentials")
    events = make_events(3)
    started = time.monotonic()
    async with wrong as bus:
        with pytest.raises(SenderRefused) as by_publish:
            await bus.publish(events)
        with pytest.raises(SenderRefused) as by_publish_encoded:
            await bus.publish_encoded([as_encoded(event) for event in events])

    assert time.monotonic() - started < 2 * DEADLINE + 1.0
    for refused in (by_publish.value, by_publish_encoded.value):
        assert refused.cause in ("event key rejected", "credentials rejected")
        assert refused.accepted_ids == ()
    assert await backend.consume() == []


async def test_the_readiness_probe_goes_red_and_green_again(backend: Backend) -> None:
    assert await probe_until(backend, ready=True) is None

    backend.go_away()
    reason = await probe_until(backend, ready=False)
    assert reason

    backend.come_back()
    assert await probe_until(backend, ready=True) is None
    [event] = make_events(1)
    assert await backend.bus.publish([event]) == [event.id]


async def test_an_encoded_event_reaches_a_consumer_as_the_very_bytes_given(backend: Backend) -> None:
    events = [spelled_with_escapes(event) for event in make_events(3, name="app/user.clicked")]

    assert await backend.bus.publish_encoded(events) == [event.id for event in events]

    consumed = await backend.consume()
    assert [message.body for message in consumed] == [event.body for event in events]
    assert [message.message_id for message in consumed] == [event.id for event in events]


async def test_events_claimed_from_the_outbox_reach_a_consumer_as_the_bytes_stored(
    backend: Backend, tmp_path: Path
) -> None:
    events = make_events(3, name="app/user.clicked")
    outbox = SqliteOutboxStore(tmp_path / "outbox.sqlite3")
    await outbox.open()
    try:
        await outbox.append(events)
        claimed = await outbox.claim("relay", 10, 30.0)
    finally:
        await outbox.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "outbox.sqlite3")) as connection:
        stored = dict(connection.execute("SELECT id, body FROM outbox"))

    await backend.bus.publish_encoded([item.event for item in claimed])

    consumed = await backend.consume()
    assert [message.body for message in consumed] == [stored[event.id] for event in events]
    assert [message.message_id for message in consumed] == [event.id for event in events]
