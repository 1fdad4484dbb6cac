"""The one ASGI layer every HTTP request crosses, on its way into the app and out of it.

On the way in it gives the request an id: the caller's ``X-Request-ID`` when it is a sane token,
else a fresh one. On the way out it adds the headers every answer carries (that id; never cached,
as answers are per user; never sniffed as another type), notes the status and, for an RFC 9457
answer, the problem ``type``; once the app is done it hands the ``Exchange`` to its observers
(the metrics, the access log).

It wraps the app's request handler (``observe_at_the_edge``) rather than being Litestar middleware,
which runs only for routed requests: it sees every request, 404s and 405s included, outside
routing, CORS and the exception handlers, so the status it sees is the one sent. One send wrapper
that builds the header list directly costs a fraction of one per concern, each re-reading the
headers through ``MutableScopeHeaders``.
"""

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from adapters.event_ids import new_compact_id

Header = tuple[bytes, bytes]

_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ALWAYS: tuple[Header, ...] = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
_ADDED_NAMES = frozenset({b"x-request-id", *(name for name, _ in _ALWAYS)})
_PROBLEM_JSON = b"application/problem+json"
CLIENT_CLOSED_REQUEST = 499
"""The status a request whose client went away before its answer is counted and logged with (nginx's)."""
_PROBLEM_TYPE_MARKER = b'"type":"urn:eventgate:problem:'


class Exchange(NamedTuple):
    """What one HTTP request came to (a tuple: one is built per request, four times as fast as a
    frozen dataclass).

    ``path`` is the path as the app routed it (Litestar drops a trailing slash), ``route`` the path
    template of the route that took it (``None`` when none did); ``user_id`` and ``event_ids`` are
    what the handler left in the request state. A request that failed before answering is a 500,
    unless its client had gone (``http.disconnect``): then it is a 499, the client's doing, not ours.
    """

    request_id: str
    method: str
    path: str
    route: str | None
    status: int
    problem_type: str | None
    seconds: float
    user_id: str | None
    event_ids: list[str] | None


Observer = Callable[[Exchange], None]


def request_id_from(headers: Iterable[Header]) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh one: ids end up in logs."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            if _ACCEPTABLE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return new_compact_id()


class Edge:
    """Pure ASGI wrapper: request id, the headers of every answer, and the ``Exchange`` to each observer."""

    def __init__(
        self, app: ASGIApp, observers: Sequence[Observer], *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._app = app
        self._observers = tuple(observers)
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        added = ((b"x-request-id", request_id.encode("latin-1")), *_ALWAYS)
        started = self._clock()
        status = 500
        problem: bool | str | None = None
        client_gone = False

        async def receive_at_edge() -> ReceiveMessage:
            nonlocal client_gone
            message = await receive()
            if message["type"] == "http.disconnect":
                client_gone = True
            return message

        async def send_from_edge(message: Message) -> None:
            nonlocal status, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"], problem = _answer_headers(message.get("headers", ()), added)
            elif problem is True and message["type"] == "http.response.body":
                problem = _problem_type(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive_at_edge, send_from_edge)
        finally:
            seconds = self._clock() - started
            if client_gone and status >= 500:
                status, problem = CLIENT_CLOSED_REQUEST, "client-closed-request"
            state = scope.get("state") or {}
            exchange = Exchange(
                request_id,
                scope["method"],
                scope["path"],
                scope.get("path_template"),
                status,
                problem if isinstance(problem, str) else None,
                seconds,
                state.get("user_id"),
                state.get("event_ids"),
            )
            for observe in self._observers:
                observe(exchange)


def observe_at_the_edge(app: Litestar, *observers: Observer) -> Litestar:
    """Put the edge around ``app``'s request handler, feeding ``observers`` in order. Call it once per app."""
    app.asgi_handler = Edge(app.asgi_handler, observers)
    return app


def _answer_headers(headers: Iterable[Header], added: tuple[Header, ...]) -> tuple[list[Header], bool]:
    """The answer's headers with ``added`` in place of any of the same names, and whether the
    (first) ``Content-Type`` is a problem's."""
    kept: list[Header] = []
    content_type: bytes | None = None
    for header in headers:
        name = header[0].lower()
        if name in _ADDED_NAMES:
            continue
        if content_type is None and name == b"content-type":
            content_type = header[1]
        kept.append(header)
    kept.extend(added)
    return kept, content_type == _PROBLEM_JSON


def _problem_type(body: bytes) -> str | None:
    """The slug of a problem body's ``type`` (``urn:eventgate:problem:<slug>``), read without parsing JSON."""
    start = body.find(_PROBLEM_TYPE_MARKER)
    if start < 0:
        return None
    start += len(_PROBLEM_TYPE_MARKER)
    end = body.find(b'"', start)
    return body[start:end].decode("ascii", "replace") if end > 0 else None
