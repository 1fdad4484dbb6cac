"""The process-wide HTTP client: opened once at startup, closed at shutdown.

Reusing one ``httpx.AsyncClient`` keeps TLS connections to the event API alive between publishes
instead of paying a handshake per request. ``open_http_client`` is an async context manager, which
dependency-injector's ``providers.Resource`` opens on ``init_resources`` and closes on
``shutdown_resources``.

The client is httpx's; the connections under it are aiohttp's (``adapters.inngest.transport``),
which cost far less CPU per request than httpx's default transport. Requests through a proxy named
by ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` still go through httpx's own transport, with the
same settings.
"""

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx

from adapters.inngest.redaction import RedactEventKeys
from adapters.inngest.transport import EventApiTransport

REDACTED_LOGGERS = ("httpx", "aiohttp.client", "aiohttp.internal", "asyncio")
"""Loggers that may write an event API URL: httpx logs every request's; aiohttp's debug messages and
the event loop's report of an unclosed aiohttp response (its ``repr`` is the URL) may hold one."""

MAX_RESPONSE_HEADER_BYTES = 16 * 1024
"""The longest response header line accepted, as httpx's parser (h11) accepts; aiohttp's default is 8190."""


@dataclass(frozen=True, slots=True)
class HttpClientSettings:
    """Timeouts in seconds and connection-pool limits of the HTTP client.

    ``read_timeout`` bounds each wait for response bytes, not a whole request; the retry policy's
    deadline bounds a publish as a whole. ``connect_timeout`` bounds opening a connection.
    ``pool_timeout`` bounds the wait for a free connection when ``max_connections`` are all busy.
    Idle connections are closed after ``keepalive_expiry``.

    Two settings hold only for requests through a proxy, which httpx's own transport carries:
    aiohttp has no timeout for sending the request (``write_timeout``), so a server that stops
    reading it is cut off by the publish deadline instead; and it keeps every idle connection
    until ``keepalive_expiry``, up to ``max_connections``, rather than at most
    ``max_keepalive_connections`` of them.
    """

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    pool_timeout: float = 5.0
    max_connections: int = 100
    max_keepalive_connections: int = 20
    keepalive_expiry: float = 15.0

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "write_timeout", "pool_timeout", "keepalive_expiry"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")
        if not 0 <= self.max_keepalive_connections <= self.max_connections:
            raise ValueError(
                f"max_keepalive_connections must be 0 to max_connections ({self.max_connections}), "
                f"got {self.max_keepalive_connections}"
            )

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )

    @property
    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


@asynccontextmanager
async def open_http_client(settings: HttpClientSettings) -> AsyncIterator[httpx.AsyncClient]:
    """Open the client, and redact event keys from the HTTP libraries' logs while it is open.

    Redirects are not followed: the event API does not redirect, and following one would send the
    event key in the path to wherever it points. Cookies are neither kept nor sent by aiohttp
    (httpx's client keeps its own jar, as before).
    """
    loggers = [logging.getLogger(name) for name in REDACTED_LOGGERS]
    redaction = RedactEventKeys()
    for logger in loggers:
        logger.addFilter(redaction)
    try:
        ssl_context = httpx.create_ssl_context()
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.max_connections,
                keepalive_timeout=settings.keepalive_expiry,
                ssl=ssl_context,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            max_line_size=MAX_RESPONSE_HEADER_BYTES,
            max_field_size=MAX_RESPONSE_HEADER_BYTES,
        )
        async with session:  # closed here too, should the client not come to be
            transport = EventApiTransport(session, ssl_context, settings.limits)
            # ``limits`` here serve the proxy transports httpx makes from the environment, if any.
            async with httpx.AsyncClient(
                transport=transport, timeout=settings.timeout, limits=settings.limits, follow_redirects=False
            ) as client:
                yield client
    finally:
        for logger in loggers:
            logger.removeFilter(redaction)
