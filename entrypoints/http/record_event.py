"""``POST /api``: the HTTP face of ``RecordUserEvent``.

It is a Litestar ASGI route: Litestar routes to it, and its exception handlers and the app's
middleware (CORS) serve it as any route, but the handler reads the request and writes its answer
itself. Litestar's ``@post`` machinery (a ``Request``, the handler's signature model, a ``Response``
and its ``ASGIResponse``) costs more per request than the whole use case, on the one route every
event crosses. ``docs.document_record_event`` describes it in the OpenAPI schema, which Litestar
builds from its HTTP routes only.
"""

from typing import cast

import msgspec
from litestar import asgi
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException
from litestar.handlers import ASGIRouteHandler
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from adapters.nextauth import CookieParser
from application.ports import SessionCredentials
from application.record_user_event import RecordUserEvent
from domain.event import ABSENT
from entrypoints.http.request_body import RecordEventResponse, decode_record_event_request, receive_body
from entrypoints.http.request_guards import OriginPolicy, check_request, request_headers

PATH = "/api"
_encode_answer = msgspec.json.Encoder().encode
_OPTIONS_ANSWER = HTTPResponseStartEvent(
    type="http.response.start", status=204, headers=[(b"allow", b"OPTIONS, POST")]
)
_NO_BODY = HTTPResponseBodyEvent(type="http.response.body", body=b"", more_body=False)


def cookies_of(state: State) -> CookieParser:
    """The bridge to the ``Cookie`` header parser of the app's NextAuth version: the library's own rules
    (which duplicate wins, quotes, decoding), so that eventgate finds the session the app finds."""
    return cast(CookieParser, state["read_cookies"])


def record_user_event_of(state: State) -> RecordUserEvent:
    """The bridge to the use case the app's lifespan put into its state (read as an item: reading
    ``State`` as an attribute first misses the attribute, then looks the name up)."""
    return cast(RecordUserEvent, state["record_user_event"])


def record_event_route(policy: OriginPolicy, max_body_bytes: int) -> ASGIRouteHandler:
    """``POST /api``, checking each request against ``policy`` and reading at most ``max_body_bytes``
    of its body; ``OPTIONS`` answers what the route allows, any other method 405."""

    @asgi(PATH, is_mount=False, copy_scope=False)
    async def record_event(scope: Scope, receive: Receive, send: Send) -> None:
        """Publish one event carrying the session's user and the request's ``data``.

        The sender is admitted (session, rate limit) from the headers before the body is read: a
        stranger's or an over-limit body is never read, decoded or depth-checked.
        """
        method = scope["method"]  # type: ignore[typeddict-item]
        if method != "POST":
            if method != "OPTIONS":
                raise MethodNotAllowedException(headers={"allow": "POST, OPTIONS"})
            await send(_OPTIONS_ANSWER)
            await send(_NO_BODY)
            return
        headers = request_headers(scope)
        check_request(policy, scope, headers)
        state = scope["litestar_app"].state
        use_case = record_user_event_of(state)
        cookie = headers.cookie
        client = scope.get("client")
        user = await use_case.admit(
            SessionCredentials(
                cookies=cookies_of(state)(cookie) if cookie else {},
                authorization=headers.authorization,
            ),
            client[0] if client else None,
        )
        body = decode_record_event_request(
            await receive_body(receive, headers.content_length, max_body_bytes)
        )
        recorded = await use_case.record(
            user,
            name=None if body.name is msgspec.UNSET else body.name,
            payload=ABSENT if body.data is msgspec.UNSET else body.data,
            idempotency_key=headers.idempotency_key,
        )
        request_state = scope["state"]
        request_state["user_id"] = recorded.user_id
        request_state["event_ids"] = recorded.event_ids
        answer = _encode_answer(RecordEventResponse(ids=recorded.event_ids))
        await send(
            HTTPResponseStartEvent(
                type="http.response.start",
                status=200,
                headers=[(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
            )
        )
        await send(HTTPResponseBodyEvent(type="http.response.body", body=answer, more_body=False))

    return record_event
