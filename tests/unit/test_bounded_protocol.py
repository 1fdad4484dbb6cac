"""The bounded protocol reads requests however a client's bytes are cut into reads: a head is held
until its end arrives, even when that end is split between reads or comes just after a pipelined
request, and only then parsed."""

import asyncio
import gc
import itertools
from typing import Any

import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.server import ServerState

from entrypoints.cli.server_limits import BoundedHttpToolsProtocol
from entrypoints.composition.settings import HttpServerSettings
from tests.integration.bounded_server import TinyApp

REQUESTS = (
    b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /second HTTP/1.1\r\nHost: a\r\nCookie: next-auth.session-token=x\r\n\r\n",
    b"POST /third HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n\r\n\r",
)
ANSWERS = (b"\r\n\r\n5", b"\r\n\r\nok", b"\r\n\r\n3")


class FakeTransport(asyncio.Transport):
    """Keeps what the protocol writes; reading can be paused and resumed, as uvicorn's flow control does."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def exchange(reads: list[bytes], app: Any = None) -> FakeTransport:
    """The protocol given ``reads`` one by one, the app's tasks run between them."""
    config = uvicorn.Config(app or TinyApp(), lifespan="off", log_config=None, access_log=False)
    protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, settings=HttpServerSettings())
    transport = FakeTransport()
    protocol.connection_made(transport)
    for read in reads:
        protocol.data_received(read)
        for _ in range(20):
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def cut(data: bytes, at: list[int]) -> list[bytes]:
    edges = [0, *sorted(set(at)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges) if end > start]


@settings(max_examples=300)
@given(st.lists(st.integers(0, len(b"".join(REQUESTS))), max_size=12))
def test_three_pipelined_requests_are_answered_in_order_however_their_bytes_are_cut(at: list[int]) -> None:
    written = bytes(asyncio.run(exchange(cut(b"".join(REQUESTS), at))).written)

    responses = written.split(b"HTTP/1.1 ")[1:]
    assert len(responses) == len(REQUESTS), written
    for response, body in zip(responses, ANSWERS, strict=True):
        assert response.startswith(b"200 OK\r\n")
        assert response.endswith(body)


def test_a_head_whose_end_straddles_two_reads_after_a_pipelined_request_is_answered() -> None:
    first, second = REQUESTS[0], REQUESTS[1]
    written = asyncio.run(exchange([first + second[:-1], second[-1:]])).written

    assert written.count(b"HTTP/1.1 200 OK") == 2


def test_an_answer_goes_out_in_one_write_its_head_with_its_body() -> None:
    transport = asyncio.run(exchange([REQUESTS[0]]))

    assert len(transport.writes) == 1, transport.writes
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n5")


async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    await send({"type": "http.response.body", "body": b"second", "more_body": False})


def test_a_streamed_answer_writes_its_head_with_its_first_part_and_the_rest_as_it_comes() -> None:
    transport = asyncio.run(exchange([REQUESTS[1]], streamed))

    assert len(transport.writes) == 2, transport.writes
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")
    assert transport.writes[1] == b"6\r\nsecond\r\n0\r\n\r\n"


def test_100_continue_goes_out_at_once_before_the_answer() -> None:
    head = b"POST /first HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    transport = asyncio.run(exchange([head, b"hello"]))

    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(transport.writes) == 2, transport.writes
    assert transport.writes[1].endswith(b"\r\n\r\n5")


def test_an_answer_to_head_goes_out_though_it_has_no_body_to_wait_for() -> None:
    transport = asyncio.run(exchange([b"HEAD /second HTTP/1.1\r\nHost: a\r\n\r\n"]))

    assert len(transport.writes) == 1, transport.writes
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")


def test_a_served_request_is_freed_when_it_ends_not_left_for_the_cyclic_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        asyncio.run(exchange(list(REQUESTS)))
        left = [found for found in gc.get_objects() if isinstance(found, RequestResponseCycle)]
    finally:
        gc.enable()

    assert left == []
