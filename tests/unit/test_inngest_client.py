"""The process-wide HTTP client: configured explicitly, closed on exit, redacting while open."""

import logging
from typing import Any

import httpx
import pytest
from dependency_injector import containers, providers

from adapters.inngest import HttpClientSettings, open_http_client
from adapters.inngest.client import REDACTED_LOGGERS
from adapters.inngest.redaction import RedactEventKeys


def redaction_filters(logger: str = "httpx") -> list[logging.Filter]:
    return [f for f in logging.getLogger(logger).filters if isinstance(f, RedactEventKeys)]


@pytest.mark.anyio
async def test_opens_a_client_with_the_settings_and_closes_it_on_exit() -> None:
    settings = HttpClientSettings(connect_timeout=1, read_timeout=2, write_timeout=3, pool_timeout=4)

    async with open_http_client(settings) as client:
        assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
        assert not client.follow_redirects
        assert not client.is_closed

    assert client.is_closed


@pytest.mark.anyio
@pytest.mark.parametrize("logger", REDACTED_LOGGERS)
async def test_redacts_the_logs_that_may_hold_a_url_only_while_open(logger: str) -> None:
    before = redaction_filters(logger)

    async with open_http_client(HttpClientSettings()):
        assert len(redaction_filters(logger)) == len(before) + 1

    assert redaction_filters(logger) == before


@pytest.mark.anyio
@pytest.mark.parametrize("logger", ["asyncio", "aiohttp.client"])
async def test_an_unclosed_aiohttp_response_reported_by_the_event_loop_shows_no_key(
    logger: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "evtkey-5eCr3t-0123456789abcdef"

    async with open_http_client(HttpClientSettings()):
        logging.getLogger(logger).error(
            "Unclosed response\nclient_response: <ClientResponse(http://inn.gs/e/%s)>", key
        )

    assert caplog.records
    assert key not in caplog.text
    assert "http://inn.gs/e/***" in caplog.text


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
