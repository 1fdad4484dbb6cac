"""``POST /api``: the HTTP face of ``RecordUserEvent``."""

from typing import Any, cast

import msgspec
from litestar import Request, post
from litestar.datastructures import State

from adapters.nextauth import CookieParser
from application.ports import SessionCredentials
from application.record_user_event import RecordUserEvent
from domain.event import ABSENT
from entrypoints.http.docs import PROBLEM_RESPONSES, RecordEventOperation
from entrypoints.http.json_answer import JsonAnswer
from entrypoints.http.request_body import RecordEventResponse, decode_record_event_request, read_body
from entrypoints.http.request_guards import request_headers


def cookies_of(state: State) -> CookieParser:
    """The bridge to the ``Cookie`` header parser of the app's NextAuth version: the library's own rules
    (which duplicate wins, quotes, decoding), so that eventgate finds the session the app finds."""
    return cast(CookieParser, state.read_cookies)


def record_user_event_of(state: State) -> RecordUserEvent:
    """The bridge to the use case the app's lifespan put into its state.

    The handler calls it itself: as a Litestar dependency it would be resolved per request, through
    a signature model and a cleanup group, for a value that never changes.
    """
    return cast(RecordUserEvent, state.record_user_event)


@post(
    "/api",
    status_code=200,
    summary="Record an event for the signed-in user",
    operation_class=RecordEventOperation,
    responses=PROBLEM_RESPONSES,
    response_class=JsonAnswer,
)
async def record_event(request: Request[Any, Any, Any]) -> RecordEventResponse:
    """Publish one event carrying the session's user and the request's ``data``.

    The sender is admitted (session, rate limit) from the headers before the body is read: a
    stranger's or an over-limit body is never read, decoded or depth-checked.
    """
    scope = request.scope
    headers = request_headers(scope)
    cookie = headers.cookie
    client = scope.get("client")
    use_case = record_user_event_of(request.app.state)
    user = await use_case.admit(
        SessionCredentials(
            cookies=cookies_of(request.app.state)(cookie) if cookie else {},
            authorization=headers.authorization,
        ),
        client[0] if client else None,
    )
    body = decode_record_event_request(await read_body(request, headers.content_length))
    recorded = await use_case.record(
        user,
        name=None if body.name is msgspec.UNSET else body.name,
        payload=ABSENT if body.data is msgspec.UNSET else body.data,
        idempotency_key=headers.idempotency_key,
    )
    state = scope["state"]
    state["user_id"] = recorded.user_id
    state["event_ids"] = recorded.event_ids
    return RecordEventResponse(ids=recorded.event_ids)
