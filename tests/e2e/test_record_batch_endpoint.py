"""POST /api/batch through the real app: every event of a batch recorded in order, or none, the culprit named."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event_ids import idempotent_event_id
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN
from tests.e2e.test_record_event_endpoint import assert_problem

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]
JSON = {"Content-Type": "application/json"}


def clicks(count: int) -> dict[str, list[dict[str, Any]]]:
    return {"events": [{"name": "app/clicked", "data": {"n": n}} for n in range(count)]}


@asynccontextmanager
async def app_with(bus: InMemoryEventBus, **environment: str) -> AsyncIterator[Client]:
    """The app in direct mode, publishing to ``bus``, configured further by ``environment``."""
    container = container_for(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
        | environment
    )
    container.bus_backend.override(providers.Object(bus))
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client


async def test_records_every_event_in_order_and_answers_their_ids(
    client: Client, bus: InMemoryEventBus
) -> None:
    body = {
        "events": [{"name": "app/opened"}, {"data": {"button": "buy"}}, {"name": "app/left", "data": None}]
    }

    response = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    assert response.status_code == 200
    assert response.json() == {"success": "true", "ids": [event.id for event in bus.published]}
    assert [(event.name, dict(event.data)) for event in bus.published] == [
        ("app/opened", {"user": ADA.to_event_data()}),
        ("app/user.event", {"user": ADA.to_event_data(), "payload": {"button": "buy"}}),
        ("app/left", {"user": ADA.to_event_data(), "payload": None}),
    ]


async def test_each_event_takes_its_own_idempotency_key_and_a_retry_gets_the_same_ids(client: Client) -> None:
    body = {"events": [{"idempotencyKey": "click-1"}, {"idempotencyKey": "click-2"}]}

    first = await client.post("/api/batch", json=body, headers=SIGNED_IN)
    retry = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    expected = [idempotent_event_id(ADA.id, "click-1"), idempotent_event_id(ADA.id, "click-2")]
    assert first.json()["ids"] == retry.json()["ids"] == expected


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("culprit", "field"),
    [
        ({"name": "inngest/function.finished"}, "events[3].name"),
        ({"name": "tab\there"}, "events[3].name"),
        ({"idempotencyKey": "caf\u00e9"}, "events[3].idempotencyKey"),
        ({"data": nested(65)}, "events[3].data"),
    ],
)
async def test_an_event_breaking_a_rule_refuses_the_whole_batch_naming_it(
    client: Client, bus: InMemoryEventBus, culprit: dict[str, Any], field: str
) -> None:
    body = {"events": [*({"idempotencyKey": f"click-{n}"} for n in range(3)), culprit, {"name": "app/after"}]}

    response = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    assert assert_problem(response, 400, "invalid-event")["field"] == field
    assert bus.published == []


async def test_an_event_over_the_size_limit_refuses_the_batch_with_413_naming_it_and_the_limit(
    client: Client, bus: InMemoryEventBus
) -> None:
    body = {"events": [{"data": "small"}, {"data": "x" * 300_000}]}

    response = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    problem = assert_problem(response, 413, "event-too-large")
    assert (problem["field"], problem["limit"]) == ("events[1].data", 256 * 1024)
    assert bus.published == []


async def test_a_name_outside_the_allow_list_refuses_the_batch_with_403_naming_it() -> None:
    bus = InMemoryEventBus()
    async with app_with(bus, EVENTGATE_ALLOWED_EVENT_NAMES="app/*") as client:
        body = {"events": [{"name": "app/ok"}, {"name": "admin/grant"}]}
        response = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    assert assert_problem(response, 403, "event-not-allowed")["field"] == "events[1].name"
    assert bus.published == []


@pytest.mark.parametrize("count", [0, 4])
async def test_refuses_an_empty_batch_and_one_over_the_limit_naming_the_limit(count: int) -> None:
    bus = InMemoryEventBus()
    async with app_with(bus, EVENTGATE_MAX_BATCH_EVENTS="3") as client:
        response = await client.post("/api/batch", json=clicks(count), headers=SIGNED_IN)

    problem = assert_problem(response, 400, "invalid-event")
    assert problem["field"] == "events"
    assert "1 to 3 events" in problem["detail"]
    assert bus.published == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "not valid JSON"),
        (b"{}", "missing required field `events`"),
        (b'{"events": {}}', "$.events"),
        (b'{"events": [{"name": "a"}, {"name": 1}]}', "$.events[1].name"),
        (b'{"events": [{}], "user": {"id": "admin"}}', "unknown field `user`"),
        (b'{"events": [{"user": {"id": "admin"}}]}', "unknown field `user` - at `$.events[0]`"),
    ],
)
async def test_rejects_a_malformed_body_saying_where(
    client: Client, bus: InMemoryEventBus, body: bytes, says: str
) -> None:
    response = await client.post("/api/batch", content=body, headers=JSON | SIGNED_IN)

    assert says in assert_problem(response, 400, "malformed-request")["detail"]
    assert bus.published == []


async def test_refuses_an_idempotency_key_header_as_a_batch_takes_one_per_event(
    client: Client, bus: InMemoryEventBus
) -> None:
    response = await client.post("/api/batch", json=clicks(2), headers={"Idempotency-Key": "k"} | SIGNED_IN)

    assert assert_problem(response, 400, "invalid-event")["field"] == "Idempotency-Key"
    assert bus.published == []


async def test_refuses_a_batch_without_a_session(client: Client, bus: InMemoryEventBus) -> None:
    response = await client.post("/api/batch", json=clicks(2))

    assert_problem(response, 401, "unauthenticated")
    assert bus.published == []


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {"Content-Type": "text/plain"}],
)
async def test_refuses_what_post_api_refuses_from_other_sites(
    client: Client, bus: InMemoryEventBus, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/batch", content=b'{"events": [{}]}', headers=JSON | SIGNED_IN | headers
    )

    assert response.status_code == (415 if "Content-Type" in headers else 403)
    assert bus.published == []


async def test_the_rate_limit_counts_one_hit_per_event_shared_with_post_api() -> None:
    bus = InMemoryEventBus()
    async with app_with(bus, EVENTGATE_RATE_LIMIT="5/60") as client:
        larger_than_the_limit = await client.post("/api/batch", json=clicks(6), headers=SIGNED_IN)
        first = await client.post("/api/batch", json=clicks(3), headers=SIGNED_IN)
        too_many = await client.post("/api/batch", json=clicks(2), headers=SIGNED_IN)
        singles = [(await client.post("/api", json={}, headers=SIGNED_IN)).status_code for _ in range(2)]

    assert "send smaller batches" in assert_problem(larger_than_the_limit, 400, "invalid-event")["detail"]
    assert first.status_code == 200
    assert_problem(too_many, 429, "rate-limited")
    assert singles == [429, 429]
    assert len(bus.published) == 3


async def test_accepted_and_refused_events_are_counted_one_per_event() -> None:
    async with app_with(InMemoryEventBus()) as client:
        await client.post("/api/batch", json=clicks(3), headers=SIGNED_IN)
        await client.post("/api/batch", json=clicks(3))
        text = (await client.get("/metrics")).text

    assert "eventgate_events_accepted_total 3.0" in text.splitlines()
    assert 'eventgate_http_requests_total{method="POST",route="/api/batch",status="200"} 1.0' in text


def outbox_mode(path: Path, max_events: int = 1000) -> dict[str, str]:
    """Outbox mode without a relay: what is accepted stays in the file, for the test to read."""
    return {
        "EVENTGATE_DELIVERY": "outbox",
        "EVENTGATE_OUTBOX_PATH": str(path),
        "EVENTGATE_OUTBOX_MAX_EVENTS": str(max_events),
        "EVENTGATE_RELAY": "off",
    }


async def stored_ids(path: Path) -> list[str]:
    outbox = SqliteOutboxStore(path)
    await outbox.open()
    try:
        return sorted(item.event.id for item in await outbox.claim("test", 1000, 60))
    finally:
        await outbox.close()


async def test_in_outbox_mode_a_batch_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    async with app_with(InMemoryEventBus(), **outbox_mode(path, max_events=5)) as client:
        stored = await client.post("/api/batch", json=clicks(3), headers=SIGNED_IN)
        no_room = await client.post("/api/batch", json=clicks(3), headers=SIGNED_IN)
        fits = await client.post("/api/batch", json=clicks(2), headers=SIGNED_IN)

    assert stored.status_code == fits.status_code == 200
    assert_problem(no_room, 503, "outbox-unavailable")
    assert await stored_ids(path) == sorted(stored.json()["ids"] + fits.json()["ids"])


async def test_in_outbox_mode_events_sharing_a_key_are_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    body = {"events": [{"idempotencyKey": "a"}, {"idempotencyKey": "b"}, {"idempotencyKey": "a"}]}
    async with app_with(InMemoryEventBus(), **outbox_mode(path)) as client:
        response = await client.post("/api/batch", json=body, headers=SIGNED_IN)
        retry = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    a, b, again = response.json()["ids"]
    assert a == again
    assert retry.json() == response.json()
    assert await stored_ids(path) == sorted([a, b])
