"""``POST /api``: the HTTP face of ``RecordUserEvent``."""

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, post
from litestar._parsers import parse_cookie_string
from litestar.handlers import HTTPRouteHandler

from application.ports import SessionCredentials
from application.record_user_event import RecordUserEvent, RecordUserEventCommand
from domain.event import ABSENT
from entrypoints.api_docs import PROBLEM_RESPONSES, RecordEventOperation
from entrypoints.json_answer import JsonAnswer
from entrypoints.request_body import RecordEventResponse, decode_record_event_request, read_body
from entrypoints.request_guards import request_headers


def record_event_handler(record_user_event: Callable[[], RecordUserEvent]) -> HTTPRouteHandler:
    """The route handler, given the bridge to its use case.

    The handler calls the bridge itself: a Litestar dependency would resolve it per request, through
    a signature model and a cleanup group, for a value that never changes.
    """

    @post(
        "/api",
        status_code=200,
        summary="Record an event for the signed-in user",
        operation_class=RecordEventOperation,
        responses=PROBLEM_RESPONSES,
        response_class=JsonAnswer,
    )
    async def record_event(request: Request[Any, Any, Any]) -> RecordEventResponse:
        """Publish one event carrying the session's user and the request's ``data``."""
        scope = request.scope
        headers = request_headers(scope)
        body = decode_record_event_request(await read_body(request, headers.content_length))
        cookie = headers.cookie
        client = scope.get("client")
        command = RecordUserEventCommand(
            credentials=SessionCredentials(
                # what ``request.cookies`` gives, without building Litestar's ``Headers`` to read one
                cookies=parse_cookie_string(cookie) if cookie else {},
                authorization=headers.authorization,
            ),
            name=None if body.name is msgspec.UNSET else body.name,
            payload=ABSENT if body.data is msgspec.UNSET else body.data,
            idempotency_key=headers.idempotency_key,
            client_address=client[0] if client else None,
        )
        recorded = await record_user_event().execute(command)
        state = scope["state"]
        state["user_id"] = recorded.user_id
        state["event_ids"] = recorded.event_ids
        return RecordEventResponse(ids=recorded.event_ids)

    return record_event
