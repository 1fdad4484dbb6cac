"""The HTTP request metrics, fed by the edge around hand-written ASGI apps: labels stay few, every answer counts."""

import time
from collections.abc import Callable, Iterator
from typing import cast

import pytest
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry

from adapters.metrics.registry import Metrics
from entrypoints.http.edge import Edge
from entrypoints.http.metrics import HttpRequestMetrics

pytestmark = pytest.mark.anyio


def http_scope(method: str, path: str) -> Scope:
    return cast(Scope, {"type": "http", "method": method, "path": path, "headers": []})


async def no_body() -> HTTPRequestEvent:
    return {"type": "http.request", "body": b"", "more_body": False}


class Responder:
    """An app that routes to ``template`` (or to nothing) and answers ``status``."""

    def __init__(self, status: int, template: str | None = None) -> None:
        self.status = status
        self.template = template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.template is not None:
            scope["path_template"] = self.template
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Crasher:
    """An app that fails before it answers anything."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")


class Ticks:
    """A clock that moves a quarter of a second each time it is read."""

    def __init__(self) -> None:
        self._times: Iterator[float] = (n * 0.25 for n in range(1000))

    def __call__(self) -> float:
        return next(self._times)


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


def requests(registry: CollectorRegistry, route: str, method: str, status: str) -> float | None:
    return registry.get_sample_value(
        "eventgate_http_requests_total", {"route": route, "method": method, "status": status}
    )


def metered(
    app: ASGIApp, registry: CollectorRegistry, clock: Callable[[], float] = time.perf_counter
) -> Edge:
    return Edge(app, [HttpRequestMetrics(Metrics(registry))], clock=clock)


async def call(app: Edge, method: str, path: str) -> Sink:
    sink = Sink()
    await app(http_scope(method, path), no_body, sink)
    return sink


async def test_a_routed_request_is_labelled_with_its_route_template_not_its_path() -> None:
    registry = CollectorRegistry()
    app = metered(Responder(200, "/items/{item_id}"), registry, Ticks())

    await call(app, "GET", "/items/1")
    await call(app, "GET", "/items/2")

    assert requests(registry, "/items/{item_id}", "GET", "200") == 2
    duration = {"route": "/items/{item_id}", "method": "GET"}
    assert registry.get_sample_value("eventgate_http_request_duration_seconds_count", duration) == 2
    assert registry.get_sample_value("eventgate_http_request_duration_seconds_sum", duration) == 0.5


async def test_requests_no_route_took_are_counted_as_unmatched_whatever_their_path() -> None:
    registry = CollectorRegistry()
    app = metered(Responder(404), registry)

    await call(app, "GET", "/wp-admin.php")
    await call(app, "GET", "/.env")

    assert requests(registry, "unmatched", "GET", "404") == 2
    assert "/.env" not in str(list(registry.collect()))


async def test_a_method_outside_http_is_counted_as_other() -> None:
    registry = CollectorRegistry()
    app = metered(Responder(405), registry)

    await call(app, "BREW", "/api")

    assert requests(registry, "unmatched", "OTHER", "405") == 1


async def test_a_request_that_fails_before_answering_counts_as_a_500_and_the_error_propagates() -> None:
    registry = CollectorRegistry()
    app = metered(Crasher(), registry)

    with pytest.raises(RuntimeError, match="bug"):
        await call(app, "POST", "/api")

    assert requests(registry, "unmatched", "POST", "500") == 1


async def test_answers_with_a_problem_are_counted_by_their_status() -> None:
    registry = CollectorRegistry()
    app = metered(Responder(401, "/api"), registry)

    await call(app, "POST", "/api")

    assert requests(registry, "/api", "POST", "401") == 1
