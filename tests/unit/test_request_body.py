import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Receive, Scope

from entrypoints.http.request_body import (
    MAX_JSON_DEPTH,
    MalformedRequest,
    decode_record_event_request,
    json_depth,
    read_body,
)


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}"])
def test_an_empty_body_or_object_asks_for_the_default_event_without_data(body: bytes) -> None:
    request = decode_record_event_request(body)

    assert request.name is msgspec.UNSET
    assert request.data is msgspec.UNSET


def test_an_explicit_null_data_is_kept_apart_from_no_data() -> None:
    assert decode_record_event_request(b'{"data": null}').data is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{bad", "not valid JSON"),
        (b'{"data": 1', "not valid JSON"),
        (b'"\\ud800"', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"name": "\xff"}', "not valid UTF-8"),
        (b'{"data": ["\xc3"]}', "not valid UTF-8"),
        (b"[]", "does not match the schema"),
        (b'{"user": {"id": "admin"}}', "unknown field `user`"),
        (b'{"name": 3}', "`$.name`"),
        (b'{"name": null}', "`$.name`"),
        (b"[" * 5000 + b"]" * 5000, "does not match the schema"),
        (b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}", "deeper than"),
        (b'{"data":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}", "deeper than"),
    ],
)
def test_rejects_a_bad_body_saying_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(MalformedRequest) as raised:
        decode_record_event_request(body)

    assert says in str(raised.value)


def test_accepts_data_nested_exactly_to_the_limit() -> None:
    body = b'{"data":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"

    assert json_depth(decode_record_event_request(body).data) == MAX_JSON_DEPTH


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = "[{" * MAX_JSON_DEPTH

    assert decode_record_event_request(b'{"data": ["' + text.encode() + b'"]}').data == [text]


@pytest.mark.parametrize(
    ("value", "depth"), [(1, 0), ([], 1), ({}, 1), ([[1]], 2), ({"a": [{"b": {}}]}, 4), ([1, [2, [3]]], 3)]
)
def test_measures_json_nesting_depth(value: object, depth: int) -> None:
    assert json_depth(value) == depth


class Limit:
    """A stand-in for the route handler: only its ``request_max_body_size`` is read."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def resolve_request_max_body_size(self) -> int | None:
        return self.limit


Received = dict[str, Any]
"""A message ``receive`` gives."""


def body_request(
    messages: list[Received], limit: int | None, content_length: str | None
) -> Request[Any, Any, Any]:
    pending = list(messages)

    async def receive() -> Received:
        return pending.pop(0) if pending else {}

    headers = [] if content_length is None else [(b"content-length", content_length.encode("latin-1"))]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/api",
        "headers": headers,
        "state": {},
    }
    scope["route_handler"] = Limit(limit)
    return Request(cast(Scope, scope), cast(Receive, receive))


async def outcome(read: Callable[[], Awaitable[bytes]]) -> tuple[str, object]:
    try:
        return "body", await read()
    except HTTPException as error:
        return type(error).__name__, (error.status_code, error.detail)


chunks = st.lists(st.binary(max_size=8), max_size=5)


def request_messages(given: tuple[list[bytes], str]) -> list[Received]:
    """The chunks, each with more to come, then how the stream ends."""
    chunks, end = given
    endings: dict[str, list[Received]] = {
        "end": [{"type": "http.request", "body": b"", "more_body": False}],
        "disconnect": [{"type": "http.disconnect"}],
        "nothing more": [],
    }
    return [*({"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks), *endings[end]]


received_messages = st.tuples(chunks, st.sampled_from(["end", "disconnect", "nothing more"])).map(
    request_messages
)
odd_content_lengths = st.sampled_from(["", "x", " 7 ", "+3", "-1", "1_0", "1e3"])


@st.composite
def body_cases(draw: st.DrawFn) -> tuple[list[Received], int | None, str | None]:
    """What the client sends, a limit (``None`` or 0: none) and a ``Content-Length`` (absent, odd,
    or a number), the numbers near the size of the body."""
    messages = draw(received_messages)
    size = sum(len(message.get("body", b"")) for message in messages)
    near = st.integers(-2, 2).map(lambda offset: max(0, size + offset))
    limit = draw(st.one_of(st.none(), near))
    announced = near if limit is None else st.one_of(near, st.just(limit), st.just(limit + 1))
    content_length = draw(st.one_of(st.none(), odd_content_lengths, announced.map(str)))
    return messages, limit, content_length


@given(body_cases())
def test_read_body_answers_as_litestars_request_body(
    case: tuple[list[Received], int | None, str | None],
) -> None:
    messages, limit, content_length = case

    async def both() -> tuple[tuple[str, object], tuple[str, object]]:
        litestar = body_request(messages, limit, content_length)
        ours = body_request(messages, limit, content_length)
        return await outcome(litestar.body), await outcome(lambda: read_body(ours, content_length))

    litestars, ours = asyncio.run(both())

    assert ours == litestars


@pytest.mark.anyio
async def test_a_body_read_once_is_kept_for_every_later_reader() -> None:
    request = body_request(
        [
            {"type": "http.request", "body": b'{"data":', "more_body": True},
            {"type": "http.request", "body": b" 1}", "more_body": False},
        ],
        100,
        "11",
    )

    assert await read_body(request, "11") == b'{"data": 1}'
    assert await read_body(request, "11") == b'{"data": 1}'
    assert await request.body() == b'{"data": 1}'
    assert [chunk async for chunk in request.stream()] == [b'{"data": 1}', b""]
    assert await Request(request.scope).body() == b'{"data": 1}'


@pytest.mark.anyio
async def test_a_body_announced_over_the_limit_is_refused_before_it_is_read() -> None:
    request = body_request([], 10, "11")

    with pytest.raises(RequestEntityTooLarge):
        await read_body(request, "11")


@pytest.mark.anyio
async def test_a_body_streamed_over_the_limit_is_refused() -> None:
    request = body_request([{"type": "http.request", "body": b"x" * 11, "more_body": False}], 10, None)

    with pytest.raises(RequestEntityTooLarge):
        await read_body(request, None)


numbers_as_written = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.tuples(st.integers(-999, 999), st.sampled_from(["e", "E", "e+", "E-", "e-"]), st.integers(0, 300)).map(
        lambda parts: f"{parts[0]}{parts[1]}{parts[2]}"
    ),
    st.integers(301, 400).map(lambda exponent: f"1e-{exponent}"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


def json_texts(depth: int = 2) -> st.SearchStrategy[str]:
    """JSON as people write it: exponents in either case, long integers, and repeated object keys."""
    scalars = st.one_of(numbers_as_written, st.sampled_from(["true", "false", "null", '"x"', '"\\u00e9"']))
    if depth == 0:
        return scalars
    members = st.lists(st.tuples(st.sampled_from(["a", "b", "user"]), json_texts(depth - 1)), max_size=4)
    return st.one_of(
        scalars,
        st.lists(json_texts(depth - 1), max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        members.map(lambda pairs: "{" + ", ".join(f'"{key}": {value}' for key, value in pairs) + "}"),
    )


@given(json_texts())
def test_data_holds_the_values_a_standard_json_parser_reads(data: str) -> None:
    body = f'{{"data": {data}}}'.encode()

    assert decode_record_event_request(body).data == json.loads(body)["data"]


def test_a_number_beyond_a_double_is_refused_rather_than_made_infinite() -> None:
    with pytest.raises(MalformedRequest):
        decode_record_event_request(b'{"data": 1e309}')


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\uDBFF\\u0041", b"\\ud83d"])
def test_a_lone_surrogate_escape_is_named_as_what_it_is(escape: bytes) -> None:
    with pytest.raises(MalformedRequest, match="lone UTF-16 surrogate"):
        decode_record_event_request(b'{"data": "' + escape + b'"}')
