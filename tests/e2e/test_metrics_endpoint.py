"""GET /metrics through the real app: the counters move as events are accepted, refused and published."""

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from domain.errors import EventBusUnavailable
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


def value(exposition: str, sample: str) -> float:
    [number] = [
        float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines() if line.startswith(sample + " ")
    ]
    return number


async def test_metrics_count_accepted_refused_and_published_events_in_direct_mode() -> None:
    bus = InMemoryEventBus()
    container = container_for(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
    )
    container.bus_backend.override(providers.Object(bus))
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    async with AsyncTestClient(app=create_app(container)) as client:
        for _ in range(2):
            await client.post("/api", json={}, headers=JSON | SIGNED_IN)
        await client.post("/api", json={}, headers=JSON)
        bus.fail_next(EventBusUnavailable("down"))
        await client.post("/api", json={}, headers=JSON | SIGNED_IN)
        response = await client.get("/metrics")

    text = response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert value(text, "eventgate_events_accepted_total") == 2
    assert value(text, 'eventgate_events_rejected_total{reason="unauthenticated"}') == 1
    assert value(text, 'eventgate_events_rejected_total{reason="event-bus-unavailable"}') == 1
    assert value(text, 'eventgate_events_published_total{backend="memory"}') == 2
    assert "eventgate_events_retried_total{" not in text, "a direct-mode failure is the caller's, not retried"
    assert value(text, 'eventgate_http_requests_total{method="POST",route="/api",status="200"}') == 2
    assert value(text, 'eventgate_delivery_latency_seconds_count{backend="memory"}') == 2
