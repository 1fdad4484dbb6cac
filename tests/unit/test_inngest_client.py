"""The process-wide HTTP client: configured explicitly, closed on exit, redacting while open."""

import logging
from typing import Any

import httpx
import pytest
from dependency_injector import containers, providers

from adapters.inngest import HttpClientSettings, open_http_client
from adapters.inngest.redaction import RedactEventKeys


def redaction_filters() -> list[logging.Filter]:
    return [f for f in logging.getLogger("httpx").filters if isinstance(f, RedactEventKeys)]


@pytest.mark.anyio
async def test_opens_a_client_with_the_settings_and_closes_it_on_exit() -> None:
    settings = HttpClientSettings(connect_timeout=1, read_timeout=2, write_timeout=3, pool_timeout=4)

    async with open_http_client(settings) as client:
        assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
        assert not client.follow_redirects
        assert not client.is_closed

    assert client.is_closed


@pytest.mark.anyio
async def test_redacts_httpx_request_logs_only_while_open() -> None:
    before = redaction_filters()

    async with open_http_client(HttpClientSettings()):
        assert len(redaction_filters()) == len(before) + 1

    assert redaction_filters() == before


def test_the_settings_make_explicit_httpx_timeouts_and_limits() -> None:
    settings = HttpClientSettings(max_connections=10, max_keepalive_connections=5, keepalive_expiry=7)

    assert settings.timeout == httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=5.0)
    assert settings.limits == httpx.Limits(
        max_connections=10, max_keepalive_connections=5, keepalive_expiry=7
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"connect_timeout": 0},
        {"read_timeout": float("inf")},
        {"keepalive_expiry": -1},
        {"max_connections": 0},
        {"max_connections": 2, "max_keepalive_connections": 3},
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        HttpClientSettings(**settings)


class ClientContainer(containers.DeclarativeContainer):
    http_client = providers.Resource(open_http_client, HttpClientSettings())


@pytest.mark.anyio
async def test_serves_as_a_dependency_injector_resource_closed_at_shutdown() -> None:
    container = ClientContainer()

    starting = container.init_resources()
    assert starting is not None, "an async resource makes initialisation awaitable"
    await starting
    client = await container.http_client.async_()
    assert client is await container.http_client.async_()
    stopping = container.shutdown_resources()
    assert stopping is not None
    await stopping

    assert client.is_closed
