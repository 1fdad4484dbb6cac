"""An idempotency key reused for another request, through the real app in outbox mode: 409, the culprit
named, nothing stored, nothing delivered; a true retry still answers the original id."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN
from tests.e2e.test_record_event_endpoint import assert_problem

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]


@pytest.fixture
async def client(tmp_path: Path, bus: InMemoryEventBus) -> AsyncIterator[Client]:
    """Outbox mode with its relay delivering to ``bus``."""
    container = container_for(
        {
            "EVENTGATE_DELIVERY": "outbox",
            "EVENTGATE_SESSION": "memory",
            "EVENTGATE_EVENT_BUS": "memory",
            "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
            "EVENTGATE_SHUTDOWN_GRACE": "2",
        }
    )
    container.bus_backend.override(providers.Object(bus))
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client
    container.unwire()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds; fail the test after ten seconds."""
    with anyio.fail_after(10):
        while not condition():
            await asyncio.sleep(0.01)


async def delivered_after(client: Client, bus: InMemoryEventBus) -> list[tuple[str, Any]]:
    """What the bus got once a last event was delivered: the relay delivers oldest first, so anything
    stored before it was delivered by then."""
    last = await client.post("/api", json={"name": "app/last"}, headers=SIGNED_IN)
    await eventually(lambda: any(event.name == "app/last" for event in bus.published))
    assert bus.published[-1].id == last.json()["ids"][0]
    return [(event.name, event.data.get("payload")) for event in bus.published[:-1]]


async def test_post_api_answers_409_to_a_key_reused_with_other_data_and_the_original_id_to_a_retry(
    client: Client, bus: InMemoryEventBus
) -> None:
    key = {"Idempotency-Key": "order-1", **SIGNED_IN}

    first = await client.post("/api", json={"name": "app/paid", "data": 10}, headers=key)
    other_data = await client.post("/api", json={"name": "app/paid", "data": 20}, headers=key)
    other_name = await client.post("/api", json={"name": "app/refunded", "data": 10}, headers=key)
    retry = await client.post("/api", json={"name": "app/paid", "data": 10}, headers=key)

    assert first.status_code == 200
    for response in (other_data, other_name):
        problem = assert_problem(response, 409, "idempotency-key-reused")
        assert problem["field"] == "Idempotency-Key"
    assert retry.json() == first.json()
    assert await delivered_after(client, bus) == [("app/paid", 10)]


async def test_post_api_batch_answers_409_naming_the_event_whose_key_was_reused_and_stores_none(
    client: Client, bus: InMemoryEventBus
) -> None:
    await client.post("/api/batch", json={"events": [{"idempotencyKey": "k", "data": 1}]}, headers=SIGNED_IN)

    response = await client.post(
        "/api/batch",
        json={"events": [{"idempotencyKey": "new", "data": 0}, {"idempotencyKey": "k", "data": 2}]},
        headers=SIGNED_IN,
    )

    problem = assert_problem(response, 409, "idempotency-key-reused")
    assert problem["field"] == "events[1].idempotencyKey"
    assert await delivered_after(client, bus) == [("app/user.event", 1)]


async def test_post_api_batch_answers_409_to_one_key_given_to_two_different_events(
    client: Client, bus: InMemoryEventBus
) -> None:
    body = {
        "events": [
            {"idempotencyKey": "k", "data": 1},
            {"idempotencyKey": "other", "data": 0},
            {"idempotencyKey": "k", "data": 2},
        ]
    }

    response = await client.post("/api/batch", json=body, headers=SIGNED_IN)

    problem = assert_problem(response, 409, "idempotency-key-reused")
    assert problem["field"] == "events[0].idempotencyKey"
    assert "events[2].idempotencyKey" in problem["detail"]
    assert await delivered_after(client, bus) == []
