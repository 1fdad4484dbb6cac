"""Properties through HTTP: what a client posts is what the bus receives, and rejects publish nothing."""

from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from litestar import Litestar
from litestar.testing import TestClient

from adapters.memory import InMemoryEventBus
from domain.event import JsonValue
from entrypoints.composition.container import Container
from entrypoints.http.app import create_app
from tests.e2e.conftest import ADA, SIGNED_IN
from tests.strategies import invalid_event_names, json_values, valid_event_names

SyncClient = TestClient[Litestar]

HEADERS = {"Content-Type": "application/json"} | SIGNED_IN
SHARED_ACROSS_EXAMPLES = settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
"""One app serves all the examples of a test; each example looks only at what it published itself."""


@pytest.fixture
def sync_client(container: Container) -> Iterator[SyncClient]:
    with TestClient(app=create_app(container)) as client:
        yield client


@SHARED_ACROSS_EXAMPLES
@given(name=valid_event_names, data=json_values)
def test_every_valid_post_reaches_the_bus_with_its_data_byte_for_byte(
    sync_client: SyncClient, bus: InMemoryEventBus, name: str, data: JsonValue
) -> None:
    published_before = len(bus.published)
    response = sync_client.post(
        "/api", content=msgspec.json.encode({"name": name, "data": data}), headers=HEADERS
    )

    assert response.status_code == 200, response.text
    [event] = bus.published[published_before:]
    assert response.json() == {"success": "true", "ids": [event.id]}
    assert event.name == name
    assert event.data["user"] == ADA.to_event_data()
    assert msgspec.json.encode(event.data["payload"]) == msgspec.json.encode(data)


@SHARED_ACROSS_EXAMPLES
@given(name=invalid_event_names, data=json_values)
def test_every_post_with_an_invalid_name_is_a_400_and_publishes_nothing(
    sync_client: SyncClient, bus: InMemoryEventBus, name: str, data: JsonValue
) -> None:
    published_before = len(bus.published)
    response = sync_client.post(
        "/api", content=msgspec.json.encode({"name": name, "data": data}), headers=HEADERS
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert len(bus.published) == published_before
