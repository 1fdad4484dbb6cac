"""The process-wide HTTP client: opened once at startup, closed at shutdown.

Reusing one ``httpx.AsyncClient`` keeps TLS connections to the event API alive between publishes
instead of paying a handshake per request. ``open_http_client`` is an async context manager, which
dependency-injector's ``providers.Resource`` opens on ``init_resources`` and closes on
``shutdown_resources``.
"""

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from adapters.inngest.redaction import RedactEventKeys


@dataclass(frozen=True, slots=True)
class HttpClientSettings:
    """Timeouts in seconds and connection-pool limits of the HTTP client.

    ``read_timeout`` bounds each wait for response bytes, not a whole request; the retry policy's
    deadline bounds a publish as a whole. ``pool_timeout`` bounds the wait for a free connection
    when ``max_connections`` are all busy.
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
    """Open the client, and redact event keys from httpx's request log while it is open.

    Redirects are not followed: the event API does not redirect, and following one would send the
    event key in the path to wherever it points.
    """
    httpx_logger = logging.getLogger("httpx")
    redaction = RedactEventKeys()
    httpx_logger.addFilter(redaction)
    try:
        async with httpx.AsyncClient(
            timeout=settings.timeout, limits=settings.limits, follow_redirects=False
        ) as client:
            yield client
    finally:
        httpx_logger.removeFilter(redaction)
