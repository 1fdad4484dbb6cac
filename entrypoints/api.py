"""``POST /api``: the HTTP face of ``RecordUserEvent``."""

from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency

from application.ports import SessionCredentials
from application.record_user_event import RecordUserEvent, RecordUserEventCommand
from domain.event import ABSENT
from entrypoints.api_docs import PROBLEM_RESPONSES, RecordEventOperation
from entrypoints.request_body import RecordEventResponse, decode_record_event_request


@post(
    "/api",
    status_code=200,
    summary="Record an event for the signed-in user",
    operation_class=RecordEventOperation,
    responses=PROBLEM_RESPONSES,
)
async def record_event(
    request: Request[Any, Any, Any], record_user_event: NamedDependency[RecordUserEvent]
) -> RecordEventResponse:
    """Publish one event carrying the session's user and the request's ``data``."""
    body = decode_record_event_request(await request.body())
    command = RecordUserEventCommand(
        credentials=SessionCredentials(
            cookies=request.cookies, authorization=request.headers.get("authorization")
        ),
        name=None if body.name is msgspec.UNSET else body.name,
        payload=ABSENT if body.data is msgspec.UNSET else body.data,
        idempotency_key=request.headers.get("idempotency-key"),
        client_address=None if request.client is None else request.client.host,
    )
    recorded = await record_user_event.execute(command)
    request.state.user_id = recorded.user_id
    request.state.event_ids = recorded.event_ids
    return RecordEventResponse(ids=recorded.event_ids)
