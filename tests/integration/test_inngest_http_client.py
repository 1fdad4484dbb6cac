"""The HTTP client's pool settings, observed on real loopback connections."""

from collections.abc import Iterator

import anyio
import httpx
import pytest

from adapters.inngest import HttpClientSettings, open_http_client
from tests.integration.inngest_stand_in import EventApiStandIn, Hang


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
