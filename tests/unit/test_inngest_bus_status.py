"""How the bus reads each answer of the event API: success, retry, or a domain error saying why."""

import httpx
import pytest

from adapters.inngest import InngestEventBus, RetryPolicy
from adapters.inngest.retry import Clock
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
from domain.event import UserEvent
from tests.containers import inngest_endpoint_from

KEY = "evtkey-5eCr3t-0123456789abcdef"
ENDPOINT = inngest_endpoint_from({"INNGEST_EVENT_KEY": KEY})
EVENTS = [UserEvent(name="app/clicked", data={}, id=f"evt-{n}", ts=n) for n in range(3)]
THREE_ATTEMPTS = RetryPolicy(max_attempts=3)


def acknowledged() -> httpx.Response:
    return httpx.Response(200, json={"ids": ["01A", "01B", "01C"], "status": 200})


def answered(status: int, error: str = "the server's words", ids: list[str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"ids": ids or [], "status": status, "error": error})


class ScriptedApi:
    """Answers requests with the given answers in order, and records every request."""

    def __init__(self, *answers: httpx.Response | httpx.RequestError) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, httpx.RequestError):
            raise answer
        return answer


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


async def publish(api: ScriptedApi, sleep: RecordingSleep, retry: RetryPolicy = THREE_ATTEMPTS) -> list[str]:
    clock = Clock(sleep=sleep, unit_random=lambda: 0.5)
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        bus = InngestEventBus(client, ENDPOINT, retry=retry, clock=clock)
        return await bus.publish(EVENTS)


@pytest.mark.anyio
async def test_a_full_acknowledgement_returns_the_event_ids_in_order(sleep: RecordingSleep) -> None:
    assert await publish(ScriptedApi(acknowledged()), sleep) == ["evt-0", "evt-1", "evt-2"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "invalid event (https://inn.gs/e/*** answered HTTP 400: the server's words)"),
        (413, "event too large (https://inn.gs/e/*** answered HTTP 413"),
        (422, "invalid event (https://inn.gs/e/*** answered HTTP 422"),
    ],
)
async def test_a_verdict_on_the_events_rejects_them_at_once_with_its_reason(
    sleep: RecordingSleep, status: int, reason: str
) -> None:
    api = ScriptedApi(answered(status))

    with pytest.raises(EventRejected) as raised:
        await publish(api, sleep)

    assert raised.value.reason.startswith(reason)
    assert raised.value.accepted_ids == ()
    assert len(api.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "cause", "reason"),
    [
        (
            401,
            "event key rejected",
            "event key rejected — check INNGEST_EVENT_KEY (https://inn.gs/e/*** answered HTTP 401",
        ),
        (
            403,
            "event key rejected",
            "event key rejected — check INNGEST_EVENT_KEY (https://inn.gs/e/*** answered HTTP 403",
        ),
        (
            404,
            "event API not found",
            "event API not found — check INNGEST_BASE_URL or INNGEST_EVENT_API_BASE_URL (https://",
        ),
        (
            301,
            "event API redirects",
            "event API redirects — check INNGEST_BASE_URL or INNGEST_EVENT_API_BASE_URL (https://",
        ),
        (
            405,
            "event API refuses eventgate",
            "event API refuses eventgate — check INNGEST_EVENT_KEY, INNGEST_BASE_URL",
        ),
        (
            418,
            "event API refuses eventgate",
            "event API refuses eventgate — check INNGEST_EVENT_KEY, INNGEST_BASE_URL",
        ),
    ],
)
async def test_any_other_refusal_is_of_eventgate_not_of_the_events_and_is_not_retried(
    sleep: RecordingSleep, status: int, cause: str, reason: str
) -> None:
    api = ScriptedApi(answered(status))

    with pytest.raises(SenderRefused) as raised:
        await publish(api, sleep)

    assert raised.value.cause == cause
    assert raised.value.reason.startswith(reason)
    assert raised.value.accepted_ids == ()
    assert len(api.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_passing_failure_is_retried_then_reported_unavailable(
    sleep: RecordingSleep, status: int
) -> None:
    api = ScriptedApi(*[answered(status)] * 3)

    with pytest.raises(EventBusUnavailable) as raised:
        await publish(api, sleep)

    assert raised.value.reason.startswith(f"https://inn.gs/e/*** answered HTTP {status}: the server's words")
    assert len(api.requests) == 3
    assert sleep.delays == [0.05, 0.1]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.DecodingError("bad gzip"),
    ],
)
async def test_a_transport_error_is_retried(sleep: RecordingSleep, error: httpx.RequestError) -> None:
    api = ScriptedApi(error, acknowledged())

    assert await publish(api, sleep) == ["evt-0", "evt-1", "evt-2"]
    assert len(api.requests) == 2


@pytest.mark.anyio
async def test_unavailability_carries_the_last_retry_after(sleep: RecordingSleep) -> None:
    busy = httpx.Response(429, headers={"retry-after": "2"}, content=b"slow down")
    api = ScriptedApi(busy, busy, busy)

    with pytest.raises(EventBusUnavailable) as raised:
        await publish(api, sleep)

    assert raised.value.retry_after == 2.0
    assert sleep.delays == [2.0, 2.0]


@pytest.mark.anyio
async def test_a_retry_after_past_the_deadline_is_reported_without_waiting(sleep: RecordingSleep) -> None:
    api = ScriptedApi(httpx.Response(503, headers={"retry-after": "120"}))

    with pytest.raises(EventBusUnavailable) as raised:
        await publish(api, sleep, RetryPolicy(deadline=10))

    assert raised.value.retry_after == 120.0
    assert sleep.delays == []


@pytest.mark.anyio
async def test_an_error_body_that_is_not_json_still_maps_by_status(sleep: RecordingSleep) -> None:
    api = ScriptedApi(httpx.Response(413, content=b"<html>Request Entity Too Large</html>"))

    with pytest.raises(EventRejected) as raised:
        await publish(api, sleep)

    assert raised.value.reason == "event too large (https://inn.gs/e/*** answered HTTP 413)"


@pytest.mark.anyio
async def test_an_invalid_event_before_which_nothing_was_accepted_reports_nothing_accepted(
    sleep: RecordingSleep,
) -> None:
    api = ScriptedApi(answered(400, "event name is empty", ids=[""]))

    with pytest.raises(EventRejected) as raised:
        await publish(api, sleep)

    assert raised.value.accepted_ids == ()
    assert "were published" not in raised.value.reason


@pytest.mark.anyio
async def test_an_invalid_event_reports_those_accepted_before_it(sleep: RecordingSleep) -> None:
    api = ScriptedApi(answered(400, "event name is empty", ids=["01A", "01B"]))

    with pytest.raises(EventRejected) as raised:
        await publish(api, sleep)

    assert raised.value.accepted_ids == ("evt-0", "evt-1")
    assert raised.value.reason.endswith("; 2 of 3 events were published")


@pytest.mark.anyio
async def test_only_a_400_can_report_events_accepted(sleep: RecordingSleep) -> None:
    api = ScriptedApi(answered(401, "Event key not found", ids=["01A"]))

    with pytest.raises(SenderRefused) as raised:
        await publish(api, sleep)

    assert raised.value.accepted_ids == ()


@pytest.mark.anyio
async def test_the_servers_words_are_shortened_and_never_carry_the_key(sleep: RecordingSleep) -> None:
    api = ScriptedApi(answered(400, f"key {KEY} says: " + "x" * 1000))

    with pytest.raises(EventRejected) as raised:
        await publish(api, sleep)

    assert KEY not in raised.value.reason
    assert "key *** says: xxx" in raised.value.reason
    assert len(raised.value.reason) < 450


@pytest.mark.anyio
async def test_a_transport_error_mentioning_the_url_is_redacted(sleep: RecordingSleep) -> None:
    error = httpx.ConnectError(f"cannot connect to https://inn.gs/e/{KEY}")

    with pytest.raises(EventBusUnavailable) as raised:
        await publish(ScriptedApi(error, error, error), sleep)

    assert KEY not in raised.value.reason
    assert "ConnectError: cannot connect to https://inn.gs/e/***" in raised.value.reason
    assert raised.value.__context__ is None


@pytest.mark.anyio
async def test_a_short_key_is_not_masked_inside_the_words_of_a_transport_error(sleep: RecordingSleep) -> None:
    endpoint = inngest_endpoint_from({"INNGEST_EVENT_KEY": "k"})
    api = ScriptedApi(httpx.ReadTimeout("Timeout on reading data from socket"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        bus = InngestEventBus(client, endpoint, retry=RetryPolicy(max_attempts=1), clock=Clock(sleep=sleep))
        with pytest.raises(EventBusUnavailable) as raised:
            await bus.publish(EVENTS)

    assert "ReadTimeout: Timeout on reading data from socket" in raised.value.reason
    assert "https://inn.gs/e/***" in raised.value.reason


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (200, None),
        (404, None),
        (501, None),
        (429, "the Inngest event API answers HTTP 429"),
        (503, "the Inngest event API answers HTTP 503"),
    ],
)
async def test_the_probe_finds_the_bus_ready_when_its_origin_answers_other_than_failing(
    status: int, reason: str | None
) -> None:
    api = ScriptedApi(httpx.Response(status))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        assert await InngestEventBus(client, ENDPOINT).probe() == reason

    assert [(request.method, str(request.url)) for request in api.requests] == [("GET", "https://inn.gs")]
