"""``POST /api/batch``: several events in one request, recorded all or none; the HTTP face of
``RecordUserEvent.record_batch``.

Registered beside ``POST /api`` on the router whose checks refuse cross-site requests, bodies not
declared JSON and oversized cookies, and served by the same use case: the session, rate-limit
(one hit per event), size and name rules are those of ``POST /api``. What is its own is the body,
``{"events": [{"name"?, "data"?, "idempotencyKey"?}, ...]}``, with an idempotency key per event.
"""

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, post
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from application.ports import SessionCredentials
from application.record_user_event import EventDraft
from domain.errors import InvalidEvent
from domain.event import ABSENT
from domain.event_ids import MAX_IDEMPOTENCY_KEY_LENGTH
from entrypoints.http.docs import PROBLEM_RESPONSES, REQUEST_SCHEMA
from entrypoints.http.json_answer import JsonAnswer
from entrypoints.http.record_event import cookies_of, record_user_event_of
from entrypoints.http.request_body import (
    MAX_JSON_DEPTH,
    RecordEventResponse,
    decode_strictly,
    json_depth,
    may_nest_too_deep,
    read_body,
)
from entrypoints.http.request_guards import request_headers


class BatchEvent(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, rename={"idempotency_key": "idempotencyKey"}
):
    """One event of a batch: what ``POST /api`` takes, and the idempotency key its header would carry."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    data: Any = msgspec.UNSET
    idempotency_key: str | msgspec.UnsetType = msgspec.UNSET


class RecordBatchRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    events: list[BatchEvent]


_decoder = msgspec.json.Decoder(RecordBatchRequest)


def decode_record_batch_request(body: bytes) -> RecordBatchRequest:
    """Decode a batch; an event whose data nests too deep is named like any event that breaks a rule."""
    request = decode_strictly(_decoder, body)
    if may_nest_too_deep(body):
        for index, event in enumerate(request.events):
            if json_depth(event.data) > MAX_JSON_DEPTH:
                raise InvalidEvent(f"events[{index}].data", f"nests deeper than {MAX_JSON_DEPTH} levels")
    return request


def draft(event: BatchEvent) -> EventDraft:
    return EventDraft(
        name=None if event.name is msgspec.UNSET else event.name,
        payload=ABSENT if event.data is msgspec.UNSET else event.data,
        idempotency_key=None if event.idempotency_key is msgspec.UNSET else event.idempotency_key,
    )


def batch_request_schema(max_events: int) -> Schema:
    properties = REQUEST_SCHEMA.properties or {}
    event = Schema(
        type=OpenAPIType.OBJECT,
        properties={
            **properties,
            "idempotencyKey": Schema(
                type=OpenAPIType.STRING,
                min_length=1,
                max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
                pattern="^[ -~]*$",
                description="Printable ASCII: the same user sending the same key again, in this batch or "
                "a later request, gets the same event id, which is stored and delivered once; with another "
                "name or data, the batch is refused with 409 (outbox mode).",
            ),
        },
        additional_properties=False,
    )
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={
            "events": Schema(
                type=OpenAPIType.ARRAY,
                items=event,
                min_items=1,
                max_items=max_events,
                description="Recorded in order, all or none (`EVENTGATE_MAX_BATCH_EVENTS` at most).",
            )
        },
        required=["events"],
        additional_properties=False,
    )


def record_batch_operation(max_events: int) -> type[Operation]:
    """The operation's description: the handler reads the body itself, as ``POST /api``'s does."""
    schema = batch_request_schema(max_events)

    @dataclass
    class RecordBatchOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={MediaType.JSON.value: OpenAPIMediaType(schema=schema)},
                required=True,
                description="Declared as JSON.",
            )

    return RecordBatchOperation


def record_batch_handler(max_events: int) -> HTTPRouteHandler:
    """The route handler, given the batch size it documents (the use case enforces it)."""

    @post(
        "/api/batch",
        status_code=200,
        summary="Record several events for the signed-in user, all or none",
        operation_class=record_batch_operation(max_events),
        responses=PROBLEM_RESPONSES,
        response_class=JsonAnswer,
    )
    async def record_batch(request: Request[Any, Any, Any]) -> RecordEventResponse:
        """Publish the events in one call of the bus, answering their ids in order; or refuse them all,
        the problem's ``field`` naming the first culprit (``events[3].name``)."""
        scope = request.scope
        headers = request_headers(scope)
        if headers.idempotency_key is not None:
            raise InvalidEvent(
                "Idempotency-Key", "a batch takes a key per event, as events[i].idempotencyKey"
            )
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
        body = decode_record_batch_request(await read_body(request, headers.content_length))
        recorded = await use_case.record_batch(user, [draft(event) for event in body.events])
        state = scope["state"]
        state["user_id"] = recorded.user_id
        state["event_ids"] = recorded.event_ids
        return RecordEventResponse(ids=recorded.event_ids)

    return record_batch
