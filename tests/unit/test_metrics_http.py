"""The HTTP metrics middleware around hand-written ASGI apps: labels stay few, every answer counts."""

from collections.abc import Iterator
from typing import cast

import pytest
from litestar.types import HTTPRequestEvent, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry

from adapters.metrics.registry import Metrics
from entrypoints.metrics import HttpMetricsMiddleware

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


async def call(app: HttpMetricsMiddleware, method: str, path: str) -> Sink:
    sink = Sink()
    await app(http_scope(method, path), no_body, sink)
    return sink


async def test_a_routed_request_is_labelled_with_its_route_template_not_its_path() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(Responder(200, "/items/{item_id}"), Metrics(registry), clock=Ticks())

    await call(app, "GET", "/items/1")
    await call(app, "GET", "/items/2")

    assert requests(registry, "/items/{item_id}", "GET", "200") == 2
    duration = {"route": "/items/{item_id}", "method": "GET"}
    assert registry.get_sample_value("eventgate_http_request_duration_seconds_count", duration) == 2
    assert registry.get_sample_value("eventgate_http_request_duration_seconds_sum", duration) == 0.5


async def test_requests_no_route_took_are_counted_as_unmatched_whatever_their_path() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(Responder(404), Metrics(registry))

    await call(app, "GET", "/wp-admin.php")
    await call(app, "GET", "/.env")

    assert requests(registry, "unmatched", "GET", "404") == 2
    assert "/.env" not in str(list(registry.collect()))


async def test_a_method_outside_http_is_counted_as_other() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(Responder(405), Metrics(registry))

    await call(app, "BREW", "/api")

    assert requests(registry, "unmatched", "OTHER", "405") == 1


async def test_the_answer_passes_through_unchanged() -> None:
    app = HttpMetricsMiddleware(Responder(201, "/api"), Metrics(CollectorRegistry()))

    sink = await call(app, "POST", "/api")

    assert [message["type"] for message in sink.messages] == ["http.response.start", "http.response.body"]


async def test_a_request_that_fails_before_answering_counts_as_a_500_and_the_error_propagates() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(Crasher(), Metrics(registry))

    with pytest.raises(RuntimeError, match="bug"):
        await call(app, "POST", "/api")

    assert requests(registry, "unmatched", "POST", "500") == 1


async def test_other_scopes_pass_through_uncounted() -> None:
    registry = CollectorRegistry()
    seen: list[str] = []

    async def websocket_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    app = HttpMetricsMiddleware(websocket_app, Metrics(registry))
    await app(cast(Scope, {"type": "websocket", "path": "/ws", "headers": []}), no_body, Sink())

    assert seen == ["websocket"]
    assert "eventgate_http_requests_total{" not in str(list(registry.collect()))
