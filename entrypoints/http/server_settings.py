"""What the HTTP server allows a connection, one field per environment variable.

The composition parses the environment into this struct; times are in seconds, and every limit
holds for each server process (``--workers N`` has N times the connections).
"""

from typing import Annotated

import msgspec
from msgspec import Meta

from adapters.setting_types import Count, PositiveSeconds


class HttpServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_header_bytes: Annotated[
        int,
        Meta(
            ge=4096,
            description="Largest request head (request line and headers) read; a larger one is answered "
            "431 and its connection closed, without reading the rest.",
        ),
    ] = msgspec.field(default=32 * 1024, name="EVENTGATE_MAX_HEADER_BYTES")
    max_headers: Annotated[
        int, Meta(ge=8, description="Most header lines in a request; more are answered 431.")
    ] = msgspec.field(default=100, name="EVENTGATE_MAX_HEADERS")
    header_timeout: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a client has to send a request's whole head, from its connection's "
            "opening or the head's first byte; then it is answered 408 and closed."
        ),
    ] = msgspec.field(default=10.0, name="EVENTGATE_HEADER_TIMEOUT")
    body_timeout: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a client has to send a request's whole body once its head is read; "
            "then it is answered 408 and closed, and the request sees a disconnect."
        ),
    ] = msgspec.field(default=30.0, name="EVENTGATE_BODY_TIMEOUT")
    max_connections: Annotated[
        Count,
        Meta(
            description="Open connections per server process; one more is answered 503 and closed at "
            "once, and past this many requests in flight uvicorn answers 503."
        ),
    ] = msgspec.field(default=1000, name="EVENTGATE_MAX_CONNECTIONS")
    keepalive_timeout: Annotated[
        PositiveSeconds,
        Meta(description="Seconds an idle connection is kept open between two requests, then closed."),
    ] = msgspec.field(default=5.0, name="EVENTGATE_KEEPALIVE_TIMEOUT")
