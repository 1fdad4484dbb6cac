"""Outbox mode through the real app: success means stored; the in-service relay delivers later."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from domain.errors import EventBusUnavailable
from entrypoints.composition.container import Container
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]


@pytest.fixture
def outbox_environment(tmp_path: Path) -> dict[str, str]:
    return {
        "EVENTGATE_DELIVERY": "outbox",
        "EVENTGATE_SESSION": "memory",
        "EVENTGATE_EVENT_BUS": "memory",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        "EVENTGATE_SHUTDOWN_GRACE": "2",
    }


@pytest.fixture
def make_container(bus: InMemoryEventBus) -> Iterator[Callable[[dict[str, str]], Container]]:
    made: list[Container] = []

    def make(environment: dict[str, str]) -> Container:
        container = container_for(environment)
        container.bus_backend.override(providers.Object(bus))
        container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
        made.append(container)
        return container

    yield make
    for container in made:
        container.unwire()


@pytest.fixture
async def client(
    make_container: Callable[[dict[str, str]], Container], outbox_environment: dict[str, str]
) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(make_container(outbox_environment))) as client:
        yield client


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds; fail the test after five seconds."""
    with anyio.fail_after(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_an_accepted_event_is_stored_then_delivered_by_the_relay(
    client: Client, bus: InMemoryEventBus
) -> None:
    response = await client.post("/api", json={"data": "data"}, headers=SIGNED_IN)

    assert response.status_code == 200
    await eventually(lambda: len(bus.published) == 1)
    assert bus.published[0].id == response.json()["ids"][0]
    assert bus.published[0].data == {"user": ADA.to_event_data(), "payload": "data"}


async def test_a_request_succeeds_while_the_bus_is_down_and_its_event_arrives_after(
    client: Client, bus: InMemoryEventBus
) -> None:
    bus.fail_next(EventBusUnavailable("inngest is down", retry_after=0.2))

    response = await client.post("/api", json={"data": 1}, headers=SIGNED_IN)

    assert response.status_code == 200
    await eventually(lambda: [e.id for e in bus.published] == response.json()["ids"])


async def test_a_full_outbox_answers_503_with_retry_after_and_keeps_what_it_acknowledged(
    make_container: Callable[[dict[str, str]], Container],
    outbox_environment: dict[str, str],
    bus: InMemoryEventBus,
) -> None:
    bus.fail_always(EventBusUnavailable("inngest is down", retry_after=60))
    container = make_container(outbox_environment | {"EVENTGATE_OUTBOX_MAX_EVENTS": "2"})
    async with AsyncTestClient(app=create_app(container)) as client:
        statuses = [
            (await client.post("/api", json={"data": n}, headers=SIGNED_IN)).status_code for n in range(3)
        ]
        refused = await client.post("/api", json={}, headers=SIGNED_IN)
        status = await (await container.outbox()).status()

    assert statuses == [200, 200, 503]
    assert refused.status_code == 503
    assert refused.json()["type"] == "urn:eventgate:problem:outbox-unavailable"
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert status.pending == 2


async def test_events_left_at_shutdown_are_delivered_after_the_next_start(
    make_container: Callable[[dict[str, str]], Container],
    outbox_environment: dict[str, str],
    bus: InMemoryEventBus,
) -> None:
    bus.fail_always(EventBusUnavailable("inngest is down", retry_after=0.5))
    async with AsyncTestClient(app=create_app(make_container(outbox_environment))) as client:
        accepted = (await client.post("/api", json={}, headers=SIGNED_IN)).json()["ids"]

    bus.fail_always(None)
    async with AsyncTestClient(app=create_app(make_container(outbox_environment))):
        await eventually(lambda: [e.id for e in bus.published] == accepted)
