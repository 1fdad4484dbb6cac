"""The OpenAPI description of ``POST /api``: its body, and every problem it can answer with.

The handler reads the body itself (to turn every malformed body into a 400), so Litestar cannot
infer the body's schema from its signature; it is described here instead.
"""

from dataclasses import dataclass

import msgspec
from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from domain.event import MAX_NAME_LENGTH, RESERVED_NAME_PREFIX

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
            pattern="^[^\\x00-\\x1f\\x7f-\\x9f]*$",
            schema_not=Schema(pattern=f"^{RESERVED_NAME_PREFIX}"),
            description="The event name (no control characters, not starting with `inngest/`); "
            "the configured default when absent.",
        ),
        "data": Schema(description="Any JSON value, delivered as the event's `data.payload`."),
    },
    additional_properties=False,
)


@dataclass
class RecordEventOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={MediaType.JSON.value: OpenAPIMediaType(schema=REQUEST_SCHEMA)},
            required=False,
            description="Declared as JSON. No body at all (then no Content-Type is needed), or an empty "
            "one, records the default event without data.",
        )


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type=PROBLEM_JSON, description=description, generate_examples=False
    )


PROBLEM_RESPONSES = {
    400: _problem("The body is not JSON of the schema, or the event breaks a rule (`field` names it)."),
    401: _problem("No valid session: nothing was recorded."),
    403: _problem("Another site made the request, or the event name is not allowed."),
    413: _problem("The body or the event is larger than allowed (`limit` gives the limit)."),
    415: _problem("The body is not declared as `application/json`."),
    429: _problem("Too many requests; see `Retry-After` and the `RateLimit-*` headers."),
    431: _problem("The Cookie header is larger than a session needs."),
    502: _problem("Direct delivery: the bus refused the event for good."),
    503: _problem("The outbox is full or cannot be written, or the bus is unavailable; see `Retry-After`."),
}
