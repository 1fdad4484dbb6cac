"""The edge around hand-written ASGI apps: request ids, the headers of every answer, what observers see."""

from typing import Any, cast

import pytest
from litestar.types import (
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from entrypoints.http.edge import Edge, Exchange, request_id_from

pytestmark = pytest.mark.anyio

PROBLEM = b'{"status":401,"type":"urn:eventgate:problem:unauthenticated","title":"Not signed in"}'


def http_scope(
    method: str = "POST", path: str = "/api", headers: list[tuple[bytes, bytes]] | None = None
) -> Scope:
    return cast(Scope, {"type": "http", "method": method, "path": path, "headers": headers or []})


async def no_body() -> HTTPRequestEvent:
    return {"type": "http.request", "body": b"", "more_body": False}


class Responder:
    """An app that answers ``status`` with ``headers`` and ``body``, as Litestar does: in two messages."""

    def __init__(
        self, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"{}"
    ) -> None:
        self.status = status
        self.headers = headers or [(b"content-type", b"application/json")]
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(cast(HTTPResponseStartEvent, self.messages[0])["headers"])

    @property
    def body(self) -> bytes:
        return cast(HTTPResponseBodyEvent, self.messages[1])["body"]


class Observed:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


async def call(app: Any, scope: Scope | None = None) -> tuple[Sink, Exchange]:
    observed, sink = Observed(), Sink()
    await Edge(app, [observed])(scope or http_scope(), no_body, sink)
    [exchange] = observed.exchanges
    return sink, exchange


async def test_every_answer_gets_its_request_id_and_is_never_cached_nor_sniffed() -> None:
    sink, exchange = await call(Responder(), http_scope(headers=[(b"x-request-id", b"req-42")]))

    assert sink.headers == [
        (b"content-type", b"application/json"),
        (b"x-request-id", b"req-42"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    assert exchange.request_id == "req-42"


async def test_headers_of_the_same_names_the_app_set_are_replaced_not_repeated() -> None:
    app = Responder(200, [(b"Cache-Control", b"max-age=60"), (b"x-request-id", b"app's"), (b"etag", b'"1"')])

    sink, _ = await call(app)

    assert [name for name, _ in sink.headers] == [
        b"etag",
        b"x-request-id",
        b"cache-control",
        b"x-content-type-options",
    ]
    assert (b"cache-control", b"no-store") in sink.headers


@pytest.mark.parametrize("given", [b"", b"has spaces", b"x" * 129, b"new\nline", "é".encode("latin-1")])
def test_an_unusable_request_id_is_replaced_by_a_fresh_one(given: bytes) -> None:
    fresh = request_id_from([(b"x-request-id", given)])

    assert fresh != given.decode("latin-1")
    assert len(fresh) == 32
    assert fresh != request_id_from([(b"x-request-id", given)])


def test_the_first_usable_request_id_header_is_taken_whatever_its_case() -> None:
    assert request_id_from([(b"X-Request-ID", b"bad id"), (b"x-request-id", b"good-id")]) == "good-id"


async def test_a_problem_answer_is_observed_with_its_type_read_from_the_body() -> None:
    app = Responder(401, [(b"content-type", b"application/problem+json")], PROBLEM)

    sink, exchange = await call(app)

    assert (exchange.status, exchange.problem_type) == (401, "unauthenticated")
    assert sink.body == PROBLEM


async def test_an_answer_that_is_not_a_problem_has_no_problem_type_whatever_its_body() -> None:
    _, exchange = await call(Responder(400, [(b"content-type", b"application/json")], PROBLEM))

    assert (exchange.status, exchange.problem_type) == (400, None)


async def test_observers_see_the_path_as_routed_the_route_and_what_the_handler_left_in_the_state() -> None:
    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        scope["path"], scope["path_template"] = "/api", "/api"
        scope["state"].update(user_id="user-1", event_ids=["e1"])
        await Responder()(scope, receive, send)

    scope = http_scope("POST", "/api/")
    scope["state"] = {}

    _, exchange = await call(routed, scope)

    assert exchange.path == exchange.route == "/api"
    assert (exchange.user_id, exchange.event_ids) == ("user-1", ["e1"])
    assert exchange.seconds >= 0


async def test_a_request_no_route_took_has_no_route_user_or_events() -> None:
    _, exchange = await call(Responder(404))

    assert (exchange.route, exchange.user_id, exchange.event_ids) == (None, None, None)


async def test_a_request_that_fails_before_answering_is_observed_as_a_500_and_the_error_propagates() -> None:
    async def crasher(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    observed = Observed()
    with pytest.raises(RuntimeError, match="bug"):
        await Edge(crasher, [observed])(http_scope(), no_body, Sink())

    assert [(exchange.status, exchange.problem_type) for exchange in observed.exchanges] == [(500, None)]


async def test_observers_are_called_in_order() -> None:
    calls: list[str] = []

    await Edge(Responder(), [lambda _: calls.append("first"), lambda _: calls.append("second")])(
        http_scope(), no_body, Sink()
    )

    assert calls == ["first", "second"]


async def test_other_scopes_pass_through_unobserved() -> None:
    seen: list[str] = []

    async def websocket_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    observed = Observed()
    await Edge(websocket_app, [observed])(cast(Scope, {"type": "websocket", "headers": []}), no_body, Sink())

    assert seen == ["websocket"]
    assert observed.exchanges == []
