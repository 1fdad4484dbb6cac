"""The metrics pieces in a real Litestar app: requests counted by route, and ``GET /metrics`` served."""

import asyncio
from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics.registry import Metrics
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.ports import OutboxStatus
from domain.event import UserEvent
from entrypoints.http.edge import observe_at_the_edge
from entrypoints.http.metrics import HttpRequestMetrics, OutboxStatusReader, metrics_handler

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@get("/items/{item_id:int}", sync_to_thread=False)
def read_item(item_id: FromPath[int]) -> dict[str, int]:
    return {"id": item_id}


@post("/api", status_code=200, sync_to_thread=False)
def record(request: Request[Any, Any, Any], metrics: NamedDependency[Metrics]) -> dict[str, str]:
    """Stands for the real handler: it counts its own outcome, as the lead may wire it."""
    if "cookie" not in request.headers:
        metrics.record_outcome(401, "urn:eventgate:problem:unauthenticated")
        return {"type": "urn:eventgate:problem:unauthenticated"}
    metrics.record_outcome(200, None)
    return {"success": "true"}


def make_app(
    registry: CollectorRegistry, outbox_status: OutboxStatusReader | None = None, status_timeout: float = 5.0
) -> Litestar:
    metrics = Metrics(registry)
    app = Litestar(
        route_handlers=[
            read_item,
            record,
            metrics_handler(registry, outbox_status, status_timeout=status_timeout),
        ],
        dependencies={"metrics": Provide(lambda: metrics, sync_to_thread=False)},
        logging_config=None,
    )
    return observe_at_the_edge(app, HttpRequestMetrics(metrics))


def samples(body: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def requests(scraped: Samples, route: str, method: str, status: int) -> float | None:
    return scraped.get(
        ("eventgate_http_requests_total", (("method", method), ("route", route), ("status", str(status))))
    )


def a_status() -> OutboxStatus:
    return OutboxStatus(
        pending=2, pending_bytes=300, oldest_pending_age=1.5, dead=0, delivered_last_minute=0, last_error=None
    )


async def test_requests_are_counted_by_route_template_and_shown_by_get_metrics() -> None:
    async with AsyncTestClient(app=make_app(CollectorRegistry())) as client:
        await client.get("/items/1")
        await client.get("/items/2")
        await client.get("/no/such/page")
        await client.delete("/items/1")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    scraped = samples(response.text)
    assert requests(scraped, "/items/{item_id}", "GET", 200) == 2
    assert requests(scraped, "unmatched", "GET", 404) == 1
    assert requests(scraped, "unmatched", "DELETE", 405) == 1
    assert (
        scraped[
            ("eventgate_http_request_duration_seconds_count", (("method", "GET"), ("route", "unmatched")))
        ]
        == 1
    )
    assert "/no/such/page" not in response.text


async def test_a_scrape_is_itself_counted_by_the_next_one() -> None:
    async with AsyncTestClient(app=make_app(CollectorRegistry())) as client:
        await client.get("/metrics")
        response = await client.get("/metrics")

    assert requests(samples(response.text), "/metrics", "GET", 200) == 1


async def test_outcomes_the_handler_records_show_as_accepted_and_rejected_events() -> None:
    async with AsyncTestClient(app=make_app(CollectorRegistry())) as client:
        await client.post("/api", headers={"cookie": "session=1"})
        await client.post("/api", headers={"cookie": "session=1"})
        await client.post("/api")
        scraped = samples((await client.get("/metrics")).text)

    assert scraped[("eventgate_events_accepted_total", ())] == 2
    assert scraped[("eventgate_events_rejected_total", (("reason", "unauthenticated"),))] == 1


async def test_metrics_are_left_out_of_the_openapi_schema() -> None:
    async with AsyncTestClient(app=make_app(CollectorRegistry())) as client:
        schema = (await client.get("/schema/openapi.json")).json()

    assert "/items/{item_id}" in schema["paths"]
    assert "/metrics" not in schema["paths"]


async def test_the_outbox_gauges_show_what_the_outbox_file_holds_at_scrape_time(
    outbox: SqliteOutboxStore,
) -> None:
    async with AsyncTestClient(app=make_app(CollectorRegistry(), outbox.status)) as client:
        empty = samples((await client.get("/metrics")).text)
        await outbox.append(
            [UserEvent(name="app/test", data={"user": {"id": "u"}}, id=f"e{n}", ts=0) for n in range(2)]
        )
        filled = samples((await client.get("/metrics")).text)

    assert empty[("eventgate_outbox_pending_events", ())] == 0
    assert empty[("eventgate_outbox_oldest_pending_age_seconds", ())] == 0
    assert filled[("eventgate_outbox_pending_events", ())] == 2
    assert filled[("eventgate_outbox_pending_bytes", ())] > 0
    assert filled[("eventgate_outbox_dead_events", ())] == 0


async def test_an_outbox_that_cannot_be_read_leaves_out_only_its_gauges(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> OutboxStatus:
        raise OSError("disk gone")

    async with AsyncTestClient(app=make_app(CollectorRegistry(), broken)) as client:
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert "eventgate_events_accepted_total" in response.text
    assert "eventgate_outbox_" not in response.text
    assert "disk gone" in caplog.text


async def test_an_outbox_too_slow_to_answer_leaves_out_its_gauges_without_holding_the_scrape() -> None:
    async def stuck() -> OutboxStatus:
        await asyncio.sleep(30)
        return a_status()

    async with AsyncTestClient(app=make_app(CollectorRegistry(), stuck, status_timeout=0.05)) as client:
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert "eventgate_outbox_" not in response.text
