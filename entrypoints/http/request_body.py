"""The wire schema of ``POST /api``, the reading of its body and its strict decoding: every bad body becomes
``MalformedRequest``."""

import math
import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Empty, Receive
from litestar.utils.scope.state import ScopeState

T = TypeVar("T")

MAX_JSON_DEPTH = 64
"""Deepest nesting accepted in a body, so no payload can exhaust the stack of any later encoder."""


class RecordEventRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What a client may send: an event name, and data of any JSON shape. Both are optional."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    data: Any = msgspec.UNSET


class RecordEventResponse(msgspec.Struct, frozen=True):
    """``success`` is the string "true", as the Next.js route this replaces answers."""

    ids: list[str]
    success: str = "true"


class MalformedRequest(ValueError):
    """The body is not valid JSON, or not of the request schema; the message says where."""


_decoder = msgspec.json.Decoder(RecordEventRequest)
_LONE_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")
"""msgspec calls this "Input data was truncated", which sends a reader looking in the wrong place."""
_EMPTY = RecordEventRequest()
JSON_WHITESPACE = b" \t\r\n"
"""What JSON calls whitespace; ``bytes.strip()`` also strips vertical tabs and form feeds."""


def decode_record_event_request(body: bytes) -> RecordEventRequest:
    """Decode a request body; an empty (or blank) body means "the default event, no data"."""
    if not body.strip(JSON_WHITESPACE):
        return _EMPTY
    request = decode_strictly(_decoder, body)
    if may_nest_too_deep(body) and json_depth(request.data) > MAX_JSON_DEPTH:
        raise MalformedRequest(f"data nests deeper than {MAX_JSON_DEPTH} levels")
    return request


def decode_strictly(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """``decoder.decode(body)``, every way it can fail a ``MalformedRequest`` that says where."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as error:
        raise MalformedRequest(f"the body does not match the schema: {error}") from None
    except msgspec.DecodeError as error:
        if _LONE_HIGH_SURROGATE.search(body):
            raise MalformedRequest(
                "the body is not valid JSON: a \\u escape from \\ud800 to \\udbff (a lone UTF-16 surrogate) "
                "must be followed by one from \\udc00 to \\udfff"
            ) from None
        raise MalformedRequest(f"the body is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not valid UTF-8") from None
    except RecursionError:
        raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None


def may_nest_too_deep(body: bytes) -> bool:
    """Whether ``body`` has room for data nested too deep: each level opens with a ``[`` or ``{``,
    so a body with no more of them than the limit needs no walk through its data."""
    return body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (a scalar has depth 0)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


async def read_body(request: Request[Any, Any, Any], content_length: str | None) -> bytes:
    """``await request.body()`` (``content_length`` the request's ``Content-Length`` header), read by
    ``receive_body`` rather than through the async generator ``request.stream()``, and without building
    Litestar's ``Headers`` for the length.

    Everything else is Litestar's: the same exceptions for the same reasons, a body read once
    answered from where ``request.body()`` caches it, and cached there.
    """
    state = ScopeState.from_scope(request.scope)
    if (body := state.body) is not Empty:
        return body
    if not request.is_connected:
        raise InternalServerException("stream consumed")
    limit = request.route_handler.resolve_request_max_body_size() or math.inf
    body = await receive_body(request.receive, content_length, limit)
    request.is_connected = False
    state.body = request._body = body  # where ``request.body()`` leaves it, for ``request.stream()`` too
    return body


async def receive_body(receive: Receive, content_length: str | None, limit: float) -> bytes:
    """The whole body from the ASGI ``receive``, refused as Litestar's ``request.body()`` refuses it:
    413 for an announced or a streamed body over ``limit`` bytes (its ``request_max_body_size``), 400
    for a malformed ``Content-Length``, 500 for a client gone before the end (the edge counts that
    as the client's 499)."""
    try:
        announced = int(content_length) if content_length is not None else None
    except ValueError:
        raise ClientException(f"Invalid content-length: {content_length!r}") from None
    if announced is not None and announced > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    received = 0
    while message := await receive():
        if message["type"] == "http.request":
            if chunk := message["body"]:
                received += len(chunk)
                if received > limit:
                    raise RequestEntityTooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if message["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
