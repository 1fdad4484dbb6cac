"""POST /api through the real app: the contract's success body and every problem+json error."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed
from domain.event_ids import idempotent_event_id
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]
JSON = {"Content-Type": "application/json"}


def assert_problem(response: Any, status: int, type_suffix: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:eventgate:problem:{type_suffix}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    return problem


async def test_the_original_routes_curl_example_succeeds(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", content=b'{"data": "data"}', headers=JSON | SIGNED_IN)

    assert response.status_code == 200
    [event] = bus.published
    assert response.json() == {"success": "true", "ids": [event.id]}
    assert event.name == "app/user.event"
    assert event.data == {"user": ADA.to_event_data(), "payload": "data"}


async def test_records_a_named_event_with_structured_data(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post(
        "/api", json={"name": "app/cart.checked_out", "data": {"total": 42.5}}, headers=SIGNED_IN
    )

    assert response.status_code == 200
    assert bus.published[0].name == "app/cart.checked_out"
    assert bus.published[0].data["payload"] == {"total": 42.5}


async def test_an_empty_body_records_the_default_event(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", headers=JSON | SIGNED_IN)

    assert response.status_code == 200
    assert bus.published[0].data == {"user": ADA.to_event_data()}


async def test_rejects_a_request_without_a_session(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", content=b'{"data": "data"}', headers=JSON)

    assert_problem(response, 401, "unauthenticated")
    assert bus.published == []


async def test_rejects_a_request_with_an_unknown_session(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", json={}, headers={"Cookie": "eventgate.dev-session=forged"})

    assert_problem(response, 401, "unauthenticated")
    assert bus.published == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"user": {"id": "admin"}}', "unknown field `user`"),
        (b'{"name": ["x"]}', "$.name"),
        (b'{"data": "\\ud800"}', "lone UTF-16 surrogate"),
    ],
)
async def test_rejects_a_malformed_body_saying_what_is_wrong(
    client: Client, bus: InMemoryEventBus, body: bytes, says: str
) -> None:
    response = await client.post("/api", content=body, headers=JSON | SIGNED_IN)

    assert says in assert_problem(response, 400, "malformed-request")["detail"]
    assert bus.published == []


async def test_of_keys_repeated_in_one_object_the_last_one_wins(
    client: Client, bus: InMemoryEventBus
) -> None:
    body = b'{"name": "app/first", "name": "app/last", "data": {"a": 1, "a": 2}}'

    response = await client.post("/api", content=body, headers=JSON | SIGNED_IN)

    assert response.status_code == 200
    assert (bus.published[0].name, bus.published[0].data["payload"]) == ("app/last", {"a": 2})


async def test_rejects_an_invalid_event_name_naming_the_field(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", json={"name": "inngest/function.failed"}, headers=SIGNED_IN)

    problem = assert_problem(response, 400, "invalid-event")
    assert problem["field"] == "name"
    assert "inngest/" in problem["detail"]
    assert bus.published == []


async def test_rejects_an_event_over_the_size_limit_naming_the_limit(
    client: Client, bus: InMemoryEventBus
) -> None:
    response = await client.post("/api", json={"data": "x" * 300_000}, headers=SIGNED_IN)

    problem = assert_problem(response, 413, "event-too-large")
    assert problem["limit"] == 256 * 1024
    assert bus.published == []


async def test_answers_503_with_retry_after_when_the_bus_is_unavailable(
    client: Client, bus: InMemoryEventBus
) -> None:
    bus.fail_next(EventBusUnavailable("inngest answered 502", retry_after=2.5))

    response = await client.post("/api", json={"data": 1}, headers=SIGNED_IN)

    assert_problem(response, 503, "event-bus-unavailable")
    assert response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    "failure",
    [
        EventBusUnavailable("cannot connect to http://inngest.internal:8288/e/*** [ssl:default]"),
        EventRejected("http://inngest.internal:8288/e/*** answered 401: event key rejected"),
    ],
)
async def test_a_bus_failure_tells_the_client_what_to_do_and_keeps_the_internals_in_the_log(
    client: Client, bus: InMemoryEventBus, failure: PublishFailed, caplog: pytest.LogCaptureFixture
) -> None:
    bus.fail_next(failure)

    response = await client.post("/api", json={"data": 1}, headers=SIGNED_IN)

    assert "inngest.internal" not in response.text
    assert "ssl:default" not in response.text
    assert "event key" not in response.text
    assert failure.reason in caplog.text


async def test_answers_502_when_the_bus_rejects_the_event_for_good(
    client: Client, bus: InMemoryEventBus
) -> None:
    bus.fail_next(EventRejected("event key rejected"))

    response = await client.post("/api", json={"data": 1}, headers=SIGNED_IN)

    assert "refused" in assert_problem(response, 502, "event-rejected")["detail"]


async def test_an_idempotency_key_gives_a_retry_the_same_event_id(
    client: Client, bus: InMemoryEventBus
) -> None:
    headers = {"Idempotency-Key": "checkout-7"}

    first = await client.post("/api", json={"data": 1}, headers=headers | SIGNED_IN)
    retry = await client.post("/api", json={"data": 1}, headers=headers | SIGNED_IN)

    assert first.json()["ids"] == retry.json()["ids"] == [idempotent_event_id(ADA.id, "checkout-7")]
    assert [event.id for event in bus.published] == first.json()["ids"] * 2


async def test_rejects_an_unusable_idempotency_key(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api", json={}, headers={"Idempotency-Key": "k" * 300} | SIGNED_IN)

    assert assert_problem(response, 400, "invalid-event")["field"] == "Idempotency-Key"
    assert bus.published == []


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/api", 405), ("POST", "/nowhere", 404)])
async def test_unknown_routes_and_methods_answer_problem_json(
    client: Client, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
