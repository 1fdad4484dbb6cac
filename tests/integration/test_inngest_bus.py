"""The Inngest event bus against a real HTTP server on a loopback port, scripted to misbehave."""

import importlib.metadata
import json
import logging
import re
import socket
import time
import traceback
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from adapters.inngest import (
    BatchLimits,
    HttpClientSettings,
    InngestEventBus,
    RetryPolicy,
    open_http_client,
)
from adapters.inngest.retry import Clock
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed, SenderRefused
from domain.event import UserEvent
from tests.containers import inngest_endpoint_from
from tests.integration.inngest_stand_in import Drop, EventApiStandIn, Hang, Reply

KEY = "evtkey-5eCr3t-0123456789abcdef"
SEED = re.compile(r"^(?P<millis>\d+),(?P<entropy>[A-Za-z0-9+/]{14}==)$")
DEFAULT_HTTP = HttpClientSettings()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_LIMITS = BatchLimits()


class RecordingSleep:
    """Records each requested delay and returns at once, so retries cost no test time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_events(count: int, padding: str = "") -> list[UserEvent]:
    return [
        UserEvent(
            name="app/clicked", data={"n": n, "pad": padding}, id=f"evt-{n:05d}", ts=1_795_000_000_000 + n
        )
        for n in range(count)
    ]


@pytest.fixture
def stand_in() -> Iterator[EventApiStandIn]:
    with EventApiStandIn() as server:
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@asynccontextmanager
async def bus_for(
    environ: Mapping[str, str],
    sleep: RecordingSleep,
    *,
    http: HttpClientSettings = DEFAULT_HTTP,
    retry: RetryPolicy = DEFAULT_RETRY,
    limits: BatchLimits = DEFAULT_LIMITS,
) -> AsyncIterator[InngestEventBus]:
    async with open_http_client(http) as client:
        yield InngestEventBus(
            client, inngest_endpoint_from(environ), retry=retry, limits=limits, clock=Clock(sleep=sleep)
        )


def cloud(stand_in: EventApiStandIn, **extra: str) -> dict[str, str]:
    return {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": stand_in.url, **extra}


def error_body(message: str, status: int, ids: list[str] | None = None) -> bytes:
    return json.dumps({"ids": ids or [], "status": status, "error": message}).encode()


@pytest.mark.anyio
async def test_publishes_a_batch_in_one_request_and_returns_the_event_ids_in_order(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    events = make_events(3)
    async with bus_for(cloud(stand_in), sleep) as bus:
        ids = await bus.publish(events)

    assert ids == ["evt-00000", "evt-00001", "evt-00002"]
    [request] = stand_in.requests
    assert (request.method, request.path) == ("POST", f"/e/{KEY}")
    assert request.json() == [event.to_wire() for event in events]


@pytest.mark.anyio
async def test_publishing_nothing_sends_nothing(stand_in: EventApiStandIn, sleep: RecordingSleep) -> None:
    async with bus_for(cloud(stand_in), sleep) as bus:
        assert await bus.publish([]) == []

    assert stand_in.requests == []


@pytest.mark.anyio
async def test_sends_the_headers_the_sdks_send(stand_in: EventApiStandIn, sleep: RecordingSleep) -> None:
    before = time.time()
    async with bus_for(cloud(stand_in, INNGEST_ENV="feature-x"), sleep) as bus:
        await bus.publish(make_events(1))

    [request] = stand_in.requests
    sdk = f"eventgate:v{importlib.metadata.version('eventgate')}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-inngest-sdk"] == sdk
    assert request.headers["user-agent"] == sdk
    assert request.headers["x-inngest-env"] == "feature-x"
    seed = SEED.match(request.headers["x-inngest-event-id-seed"])
    assert seed is not None
    assert before * 1000 - 1 <= int(seed["millis"]) <= time.time() * 1000 + 1


@pytest.mark.anyio
async def test_leaves_out_the_env_header_when_no_branch_environment_is_set(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    async with bus_for(cloud(stand_in), sleep) as bus:
        await bus.publish(make_events(1))

    assert "x-inngest-env" not in stand_in.requests[0].headers


@pytest.mark.anyio
async def test_keeps_the_path_of_a_base_url(stand_in: EventApiStandIn, sleep: RecordingSleep) -> None:
    async with bus_for(cloud(stand_in, INNGEST_BASE_URL=f"{stand_in.url}/inngest/"), sleep) as bus:
        await bus.publish(make_events(1))

    assert stand_in.requests[0].path == f"/inngest/e/{KEY}"


@pytest.mark.anyio
async def test_sends_the_placeholder_key_to_a_dev_server_when_no_key_is_set(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    async with bus_for({"INNGEST_DEV": stand_in.url}, sleep) as bus:
        await bus.publish(make_events(1))

    assert stand_in.requests[0].path == "/e/NO_EVENT_KEY_SET"


@pytest.mark.anyio
async def test_retries_429_honouring_retry_after(stand_in: EventApiStandIn, sleep: RecordingSleep) -> None:
    stand_in.script(Reply(429, error_body("rate limited", 429), {"retry-after": "3"}))
    events = make_events(2)
    async with bus_for(cloud(stand_in), sleep) as bus:
        ids = await bus.publish(events)

    assert ids == [event.id for event in events]
    assert sleep.delays == [3.0]
    assert len(stand_in.requests) == 2


@pytest.mark.anyio
async def test_retries_503_honouring_a_retry_after_http_date(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    stand_in.script(Reply(503, b"", {"retry-after": later}))
    async with bus_for(cloud(stand_in), sleep) as bus:
        await bus.publish(make_events(1))

    [delay] = sleep.delays
    assert 8 < delay <= 10


@pytest.mark.anyio
async def test_retries_server_errors_reusing_the_seed_and_body_of_the_request(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Reply(500, error_body("boom", 500)), Reply(502, b"<html>bad gateway</html>"))
    async with bus_for(cloud(stand_in), sleep) as bus:
        await bus.publish(make_events(2))

    first, second, third = stand_in.requests
    assert first.headers["x-inngest-event-id-seed"] == second.headers["x-inngest-event-id-seed"]
    assert second.headers["x-inngest-event-id-seed"] == third.headers["x-inngest-event-id-seed"]
    assert first.body == second.body == third.body
    assert len(sleep.delays) == 2
    assert all(0 <= delay <= DEFAULT_RETRY.max_delay for delay in sleep.delays)


@pytest.mark.anyio
async def test_retries_a_connection_closed_without_an_answer(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Drop())
    async with bus_for(cloud(stand_in), sleep) as bus:
        assert await bus.publish(make_events(1)) == ["evt-00000"]

    assert len(stand_in.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        b"<html>welcome to the captive portal</html>",
        b"",
        b'{"status": 200}',
        b'{"ids": ["01A"], "status": 200}',
        b'{"ids": ["01A", ""], "status": 200}',
        b'{"ids": ["01A", "01B"]}',
        b'{"ids": ["01A", "01B"], "status": 200, "error": "partly failed"}',
        b'{"ids": "01A,01B", "status": 200}',
    ],
)
async def test_retries_a_success_status_whose_body_does_not_acknowledge_every_event(
    stand_in: EventApiStandIn, sleep: RecordingSleep, body: bytes
) -> None:
    stand_in.script(Reply(200, body))
    async with bus_for(cloud(stand_in), sleep) as bus:
        assert await bus.publish(make_events(2)) == ["evt-00000", "evt-00001"]

    assert len(stand_in.requests) == 2


@pytest.mark.anyio
async def test_gives_up_after_the_last_attempt_with_event_bus_unavailable(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    busy = Reply(503, error_body("overloaded", 503), {"retry-after": "1"})
    stand_in.script(busy, busy, busy)
    async with bus_for(cloud(stand_in), sleep, retry=RetryPolicy(max_attempts=3)) as bus:
        with pytest.raises(EventBusUnavailable) as raised:
            await bus.publish(make_events(1))

    assert len(stand_in.requests) == 3
    assert raised.value.retry_after == 1.0
    assert raised.value.accepted_ids == ()
    assert "HTTP 503: overloaded" in raised.value.reason
    assert "3 attempt(s)" in raised.value.reason


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (400, "invalid event", EventRejected),
        (401, "event key rejected", SenderRefused),
        (403, "event key rejected", SenderRefused),
        (404, "event API not found — check INNGEST_BASE_URL", SenderRefused),
        (413, "event too large", EventRejected),
    ],
)
async def test_refusals_are_not_retried_and_say_why(
    stand_in: EventApiStandIn, sleep: RecordingSleep, status: int, reason: str, kind: type[PublishFailed]
) -> None:
    stand_in.script(Reply(status, error_body("the server's words", status)))
    async with bus_for(cloud(stand_in), sleep) as bus:
        with pytest.raises(kind) as raised:
            await bus.publish(make_events(1))

    assert len(stand_in.requests) == 1
    assert raised.value.reason.startswith(reason)
    assert f"HTTP {status}: the server's words" in raised.value.reason
    assert sleep.delays == []


@pytest.mark.anyio
async def test_an_invalid_event_reports_the_events_the_server_took_before_it(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Reply(400, error_body("timestamp is before Jan 1, 1980", 400, ids=["01A"])))
    async with bus_for(cloud(stand_in), sleep) as bus:
        with pytest.raises(EventRejected) as raised:
            await bus.publish(make_events(3))

    assert raised.value.accepted_ids == ("evt-00000",)
    assert "1 of 3 events were published" in raised.value.reason


@pytest.mark.anyio
async def test_splits_at_5000_events_per_request_each_with_its_own_seed(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    events = make_events(10_001)
    async with bus_for(cloud(stand_in), sleep, limits=BatchLimits(max_bytes=3 * 1024 * 1024)) as bus:
        ids = await bus.publish(events)

    assert ids == [event.id for event in events]
    bodies = [request.json() for request in stand_in.requests]
    assert [len(body) for body in bodies] == [5000, 5000, 1]
    assert [event for body in bodies for event in body] == [event.to_wire() for event in events]
    assert len({request.headers["x-inngest-event-id-seed"] for request in stand_in.requests}) == 3


@pytest.mark.anyio
async def test_splits_at_the_byte_limit(stand_in: EventApiStandIn, sleep: RecordingSleep) -> None:
    events = make_events(7, padding="x" * 200)
    three_events = len(json.dumps([event.to_wire() for event in events[:3]], separators=(",", ":")))
    async with bus_for(cloud(stand_in), sleep, limits=BatchLimits(max_bytes=three_events)) as bus:
        ids = await bus.publish(events)

    assert ids == [event.id for event in events]
    assert [len(request.json()) for request in stand_in.requests] == [3, 3, 1]
    assert all(len(request.body) <= three_events for request in stand_in.requests)


@pytest.mark.anyio
async def test_a_refusal_after_some_requests_reports_the_events_already_published(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Reply(), Reply(), Reply(401, error_body("Event key not found", 401)))
    events = make_events(5)
    async with bus_for(cloud(stand_in), sleep, limits=BatchLimits(max_events=2)) as bus:
        with pytest.raises(SenderRefused) as raised:
            await bus.publish(events)

    assert raised.value.accepted_ids == tuple(event.id for event in events[:4])
    assert "4 of 5 events were published" in raised.value.reason


@pytest.mark.anyio
async def test_running_out_of_attempts_after_some_requests_reports_the_events_already_published(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Reply(), Reply(503, b""), Reply(503, b""))
    events = make_events(4)
    retry = RetryPolicy(max_attempts=2)
    async with bus_for(cloud(stand_in), sleep, retry=retry, limits=BatchLimits(max_events=2)) as bus:
        with pytest.raises(EventBusUnavailable) as raised:
            await bus.publish(events)

    assert raised.value.accepted_ids == ("evt-00000", "evt-00001")
    assert len(stand_in.requests) == 3


@pytest.mark.anyio
async def test_retries_a_read_timeout_with_the_same_seed(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Hang(5))
    async with bus_for(cloud(stand_in), sleep, http=HttpClientSettings(read_timeout=0.2)) as bus:
        assert await bus.publish(make_events(1)) == ["evt-00000"]

    first, second = stand_in.requests
    assert first.headers["x-inngest-event-id-seed"] == second.headers["x-inngest-event-id-seed"]


@pytest.mark.anyio
async def test_the_publish_deadline_cuts_a_hanging_request_short(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    stand_in.script(Hang(10))
    started = time.monotonic()
    async with bus_for(cloud(stand_in), sleep, retry=RetryPolicy(deadline=0.3)) as bus:
        with pytest.raises(EventBusUnavailable) as raised:
            await bus.publish(make_events(1))

    assert time.monotonic() - started < 3
    assert "deadline" in raised.value.reason


@pytest.mark.anyio
async def test_an_unreachable_event_api_is_unavailable(sleep: RecordingSleep) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]
    environ = {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": f"http://127.0.0.1:{closed_port}"}
    async with bus_for(environ, sleep, retry=RetryPolicy(max_attempts=2)) as bus:
        with pytest.raises(EventBusUnavailable) as raised:
            await bus.publish(make_events(1))

    assert "ConnectError" in raised.value.reason
    assert len(sleep.delays) == 1


@pytest.mark.anyio
async def test_never_reveals_the_event_key_in_errors_or_logs(
    stand_in: EventApiStandIn, sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stand_in.script(
        Reply(500, error_body(f"no route for POST /e/{KEY}", 500)),
        Reply(),
        Reply(401, error_body(f"event key {KEY} not found", 401)),
        Drop(),
        Drop(),
    )
    errors: list[PublishFailed] = []
    async with bus_for(cloud(stand_in), sleep, retry=RetryPolicy(max_attempts=2)) as bus:
        await bus.publish(make_events(1))
        for _ in range(2):
            with pytest.raises(PublishFailed) as raised:
                await bus.publish(make_events(1))
            errors.append(raised.value)

    assert [type(error) for error in errors] == [SenderRefused, EventBusUnavailable]
    shown = [caplog.text, *(repr(error) for error in errors)]
    shown += ["".join(traceback.format_exception(error)) for error in errors]
    assert not [text for text in shown if KEY in text]
    assert f"POST {stand_in.url}/e/***" in caplog.text, "httpx's request log is redacted, not silenced"


@pytest.mark.anyio
async def test_is_ready_while_the_event_api_answers_http_at_all(
    stand_in: EventApiStandIn, sleep: RecordingSleep
) -> None:
    async with bus_for(cloud(stand_in), sleep) as bus:
        assert await bus.probe() is None


@pytest.mark.anyio
async def test_is_not_ready_when_nothing_listens_and_says_so_without_the_key(sleep: RecordingSleep) -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        closed_port = reserved.getsockname()[1]
    environ = {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": f"http://127.0.0.1:{closed_port}"}
    async with bus_for(environ, sleep) as bus:
        reason = await bus.probe()

    assert reason == "the Inngest event API is unreachable (ConnectError)"
