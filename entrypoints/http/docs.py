"""The OpenAPI description of ``POST /api``: its body, and every problem it can answer with.

The handlers read the body themselves (to turn every malformed body into a 400), so Litestar cannot
infer the body's schema from a signature; it is described here instead. ``POST /api`` is an ASGI
route, which Litestar leaves out of the schema: ``document_record_event`` adds the whole operation.
"""

from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from litestar.enums import MediaType, ParamType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from domain.event import FORBIDDEN_NAME_CHARACTERS, MAX_NAME_LENGTH
from domain.event_ids import MAX_IDEMPOTENCY_KEY_LENGTH

PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details; ``field`` and ``limit`` appear where they help."""

    type: str
    title: str
    status: int
    detail: str
    field: str | msgspec.UnsetType = msgspec.UNSET
    limit: int | msgspec.UnsetType = msgspec.UNSET


REQUEST_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "name": Schema(
            type=OpenAPIType.STRING,
            min_length=1,
            max_length=MAX_NAME_LENGTH,
            pattern=f"^[^{FORBIDDEN_NAME_CHARACTERS}]*[^{FORBIDDEN_NAME_CHARACTERS}\\s][^{FORBIDDEN_NAME_CHARACTERS}]*$",
            schema_not=Schema(pattern="^\\s*[Ii][Nn][Nn][Gg][Ee][Ss][Tt]/"),
            description="The event name (no control characters, not starting with `inngest/`); "
            "the configured default when absent.",
        ),
        "data": Schema(description="Any JSON value, delivered as the event's `data.payload`."),
    },
    additional_properties=False,
)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer ``POST /api`` can give: its status, its problem ``type`` (after the prefix), and when."""

    status: int
    slug: str | None
    when: str


ANSWERS = (
    Answer(
        200,
        None,
        '`{"success": "true", "ids": ["<event id>"]}`: stored in the outbox (or, in direct mode, '
        "accepted by the bus)",
    ),
    Answer(
        400,
        "malformed-request",
        "the body is not UTF-8 JSON (a lone UTF-16 surrogate escape such as `\\ud800` is not), not of the "
        "schema, nests deeper than 64 levels, or holds a number beyond a double's range",
    ),
    Answer(
        400, "invalid-event", "the event breaks a rule; `field` names the culprit (`name`, `Idempotency-Key`)"
    ),
    Answer(400, "bad-request", "the `Content-Length` header is not a number"),
    Answer(401, "unauthenticated", "no valid session: nothing is published"),
    Answer(
        403,
        "cross-site-request",
        "another site made the request (`Sec-Fetch-Site`, or an `Origin` not allowed)",
    ),
    Answer(403, "event-not-allowed", "the event name is outside `EVENTGATE_ALLOWED_EVENT_NAMES`"),
    Answer(405, "method-not-allowed", "a method other than `POST` (or `OPTIONS`)"),
    Answer(
        409,
        "idempotency-key-reused",
        "outbox mode: the `Idempotency-Key` (in a batch, an event's `idempotencyKey`) came with another "
        "name or data than when it was first used; nothing is stored; `field` names the first culprit",
    ),
    Answer(413, "request-too-large", "the body exceeds `EVENTGATE_MAX_BODY_BYTES`; `limit` gives it"),
    Answer(
        413, "event-too-large", "the serialized event exceeds `EVENTGATE_MAX_EVENT_BYTES`; `limit` gives it"
    ),
    Answer(415, "unsupported-media-type", "a body not declared as `Content-Type: application/json`"),
    Answer(
        429,
        "rate-limited",
        "too many requests from this user (or, without a session, this address); "
        "`Retry-After` and `RateLimit-*` say when",
    ),
    Answer(431, "cookie-too-large", "the Cookie header is over 16 KiB, more than three session chunks need"),
    Answer(
        502,
        "event-rejected",
        "direct mode: the bus refused the event for good; the reason is logged, not shown",
    ),
    Answer(
        503,
        "outbox-unavailable",
        "the outbox is full or its disk cannot be written; `Retry-After` says when to try again",
    ),
    Answer(
        503,
        "event-bus-unavailable",
        "direct mode: the bus cannot take the event now, or refuses eventgate itself (a wrong event key, "
        "rejected broker credentials or permissions); "
        "`Retry-After` says when to try again",
    ),
    Answer(
        503,
        "session-store-unavailable",
        "database sessions: the app's session database did not answer in time, so the session could not "
        "be checked; nothing is recorded; `Retry-After` says when to try again",
    ),
)
"""Every answer ``POST /api`` gives: the OpenAPI responses and the README's table are both made from it."""


def _problem_description(status: int) -> str:
    return "; ".join(f"`{answer.slug}`: {answer.when}" for answer in ANSWERS if answer.status == status)


_PROBLEM_STATUSES = sorted({answer.status for answer in ANSWERS if answer.slug is not None})

PROBLEM_RESPONSES = {
    status: ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description=_problem_description(status),
        generate_examples=False,
    )
    for status in _PROBLEM_STATUSES
}
"""The problems, as a Litestar HTTP route declares its responses (``POST /api/batch``)."""

IDEMPOTENCY_KEY_HEADER = Parameter(
    name="Idempotency-Key",
    param_in=ParamType.HEADER,
    required=False,
    schema=Schema(
        type=OpenAPIType.STRING, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH, pattern="^[ -~]+$"
    ),
    description="Printable ASCII chosen by the client: a retry with the same key records no second event (the "
    "id is derived from the user and the key); the same key with another name or data is refused with 409 "
    "(outbox mode).",
)

RECORD_EVENT_RESPONSE_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="RecordEventResponse",
    required=["ids"],
    properties={
        "ids": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)),
        "success": Schema(type=OpenAPIType.STRING, default="true"),
    },
)


def document_record_event(openapi: OpenAPI, path: str) -> None:
    """Add ``POST <path>`` to ``openapi``, the schema Litestar built of the app's HTTP routes.

    Its problems refer to the ``Problem`` schema that Litestar put there for the other routes'.
    """
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["RecordEventResponse"] = RECORD_EVENT_RESPONSE_SCHEMA
    problem = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    responses: dict[str, OpenAPIResponse | Reference] = {
        "200": OpenAPIResponse(
            description=HTTPStatus.OK.description,
            content={
                MediaType.JSON.value: OpenAPIMediaType(
                    schema=Reference(ref="#/components/schemas/RecordEventResponse")
                )
            },
        )
    }
    for status in _PROBLEM_STATUSES:
        responses[str(status)] = OpenAPIResponse(
            description=_problem_description(status), content={PROBLEM_JSON: problem}
        )
    operation = Operation(
        operation_id="ApiRecordEvent",
        summary="Record an event for the signed-in user",
        parameters=[IDEMPOTENCY_KEY_HEADER],
        request_body=RequestBody(
            content={MediaType.JSON.value: OpenAPIMediaType(schema=REQUEST_SCHEMA)},
            required=False,
            description="Declared as JSON. No body at all (then no Content-Type is needed), or an empty one, "
            "records the default event without data.",
        ),
        responses=responses,
    )
    if openapi.paths is None:
        openapi.paths = {}
    openapi.paths[path] = PathItem(post=operation)


def answers_table() -> str:
    """The README's table of ``POST /api``'s answers."""
    lines = ["| status | `type` (after `urn:eventgate:problem:`) | when |", "| --- | --- | --- |"]
    lines += [f"| {a.status} | {f'`{a.slug}`' if a.slug else '—'} | {a.when} |" for a in ANSWERS]
    return "\n".join(lines)
