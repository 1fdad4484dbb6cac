"""The HTTP client's pool settings and errors, observed on real loopback connections.

The errors are those httpx's own transport raises, whatever transport the client uses.
"""

import asyncio
import contextlib
import gc
import socket
import time
import traceback
import warnings
from collections.abc import Iterator

import anyio
import httpx
import pytest

from adapters.inngest import HttpClientSettings, open_http_client
from tests.integration.inngest_stand_in import Drop, EventApiStandIn, Hang, Raw, Reply


@pytest.fixture
def stand_in() -> Iterator[EventApiStandIn]:
    with EventApiStandIn() as server:
        yield server


async def post(client: httpx.AsyncClient, stand_in: EventApiStandIn) -> httpx.Response:
    return await client.post(f"{stand_in.url}/e/key", content=b"[]")


@pytest.mark.anyio
async def test_consecutive_requests_share_one_kept_alive_connection(stand_in: EventApiStandIn) -> None:
    async with open_http_client(HttpClientSettings()) as client:
        await post(client, stand_in)
        await post(client, stand_in)

    first, second = stand_in.requests
    assert first.client_port == second.client_port


@pytest.mark.anyio
async def test_an_idle_connection_is_not_reused_after_the_keep_alive_expiry(
    stand_in: EventApiStandIn,
) -> None:
    async with open_http_client(HttpClientSettings(keepalive_expiry=0.05)) as client:
        await post(client, stand_in)
        await anyio.sleep(0.2)
        await post(client, stand_in)

    first, second = stand_in.requests
    assert first.client_port != second.client_port


@pytest.mark.anyio
async def test_a_request_beyond_max_connections_waits_for_the_pool_and_times_out(
    stand_in: EventApiStandIn,
) -> None:
    stand_in.script(Hang(0.5))
    settings = HttpClientSettings(max_connections=1, max_keepalive_connections=1, pool_timeout=0.1)

    async with open_http_client(settings) as client, anyio.create_task_group() as tasks:

        async def occupy_the_only_connection() -> None:
            with pytest.raises(httpx.RemoteProtocolError):
                await post(client, stand_in)

        tasks.start_soon(occupy_the_only_connection)
        assert await anyio.to_thread.run_sync(stand_in.wait_for_requests, 1, 2.0)
        with pytest.raises(httpx.PoolTimeout):
            await post(client, stand_in)

    assert len(stand_in.requests) == 1


KEY = "evtkey-5eCr3t-0123456789abcdef"


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full: connecting hangs."""
    with socket.socket() as listener, contextlib.ExitStack() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(3):
            waiting = queued.enter_context(socket.socket())
            waiting.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                waiting.connect(("127.0.0.1", port))
        yield port


@pytest.mark.anyio
async def test_a_connection_the_server_never_accepts_times_out_after_the_connect_timeout(
    unaccepting_port: int,
) -> None:
    async with open_http_client(HttpClientSettings(connect_timeout=0.2)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ConnectTimeout) as raised:
            await client.post(f"http://127.0.0.1:{unaccepting_port}/e/{KEY}", content=b"[]")

    assert 0.15 < time.monotonic() - started < 2
    assert KEY not in str(raised.value)


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        closed_port = reserved.getsockname()[1]

    async with open_http_client(HttpClientSettings()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{closed_port}/e/{KEY}", content=b"[]")


@pytest.mark.anyio
async def test_a_server_that_closes_without_answering_is_a_remote_protocol_error(
    stand_in: EventApiStandIn,
) -> None:
    stand_in.script(Drop())

    async with open_http_client(HttpClientSettings()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, stand_in)


@pytest.mark.anyio
async def test_an_answer_slower_than_the_read_timeout_is_a_read_timeout(stand_in: EventApiStandIn) -> None:
    stand_in.script(Hang(2))

    async with open_http_client(HttpClientSettings(read_timeout=0.2)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await post(client, stand_in)

    assert time.monotonic() - started < 1.5


MALFORMED_ANSWERS = {
    "not-http": b"garbage\r\n\r\n",
    "bad-content-length": b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n{}",
    "body-cut-short": b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"ids": [',
}


@pytest.mark.anyio
@pytest.mark.parametrize("answer", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
async def test_a_malformed_answer_is_a_remote_protocol_error_that_never_shows_the_event_key(
    stand_in: EventApiStandIn, answer: bytes
) -> None:
    stand_in.script(Raw(answer))

    async with open_http_client(HttpClientSettings()) as client:
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await client.post(f"{stand_in.url}/e/{KEY}", content=b"[]")

    assert KEY not in "".join(traceback.format_exception(raised.value))


@pytest.mark.anyio
async def test_failed_requests_give_their_connection_back_to_the_pool(stand_in: EventApiStandIn) -> None:
    stand_in.script(Drop(), Reply(503), Raw(b"garbage\r\n\r\n"), Hang(2))
    settings = HttpClientSettings(
        max_connections=1, max_keepalive_connections=1, pool_timeout=0.5, read_timeout=0.1
    )

    async with open_http_client(settings) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, stand_in)
        assert (await post(client, stand_in)).status_code == 503
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, stand_in)
        with pytest.raises(httpx.ReadTimeout):
            await post(client, stand_in)
        assert (await post(client, stand_in)).status_code == 200


@pytest.mark.anyio
async def test_concurrent_requests_share_at_most_max_connections(stand_in: EventApiStandIn) -> None:
    settings = HttpClientSettings(max_connections=2, max_keepalive_connections=2)

    async with open_http_client(settings) as client, anyio.create_task_group() as tasks:
        for _ in range(20):
            tasks.start_soon(post, client, stand_in)

    assert len(stand_in.requests) == 20
    assert len({request.client_port for request in stand_in.requests}) <= 2


@pytest.mark.anyio
async def test_closing_the_client_leaves_no_connection_or_session_open(stand_in: EventApiStandIn) -> None:
    reported: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with open_http_client(HttpClientSettings()) as client:
            await post(client, stand_in)
            await post(client, stand_in)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    finally:
        loop.set_exception_handler(None)

    assert client.is_closed
    assert not reported
    assert not [warning for warning in caught if issubclass(warning.category, ResourceWarning)]
