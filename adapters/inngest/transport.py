"""The transport under the ``httpx.AsyncClient``: aiohttp's connection pool, through ``httpx-aiohttp``.

httpx's default transport (httpcore, h11, anyio) costs about 340 µs of CPU per request beyond the
client's own work with one request at a time, and about 1,100 µs with 32 at once, most of it in
httpcore's pool and anyio's locks and cancel scopes (encode/httpx#3215); this one costs about
140 µs, and no more under concurrency (``bench/transport.py``). The ``httpx.AsyncClient`` on top
is unchanged: request building, timeouts per request, and the response are httpx's.

``httpx-aiohttp`` maps aiohttp's errors to httpx's only in part: a malformed response escapes as
an ``aiohttp.ClientResponseError``, which is no ``httpx.RequestError`` and whose message holds the
URL (and so the event key), a refused connection becomes a ``ConnectTimeout`` and a dropped one a
``ConnectTimeout`` too; and aiohttp has one timeout for waiting for a free connection and
connecting both. ``EventApiTransport`` raises what httpx's own transport would raise in each case,
with the URL's key redacted from the message, and bounds the two waits apart.
"""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import httpx
from aiohttp import ClientSession
from httpx_aiohttp import AiohttpTransport

from adapters.inngest.redaction import redact

_UNLIMITED = 2**31
"""Slots when ``max_connections`` is ``None``: no bound, as in httpx."""

# aiohttp's error classes, most specific first, and the httpx error its own transport raises then.
_ERRORS: tuple[tuple[type[aiohttp.ClientError], type[httpx.TransportError]], ...] = (
    # Connecting took too long (waiting for a free connection is the transport's own: PoolTimeout).
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.NetworkError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
)


def httpx_error(error: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for an aiohttp one, its message without event keys."""
    kind: type[httpx.TransportError] = httpx.TransportError
    for aiohttp_kind, httpx_kind in _ERRORS:
        if isinstance(error, aiohttp_kind):
            kind = httpx_kind
            break
    return kind(redact(str(error)) or type(error).__name__, request=request)


@contextlib.contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's errors, bare or as ``httpx-aiohttp`` mapped them, as httpx's transport would.

    The aiohttp error is not chained: its message may hold the request's URL, key included.
    """
    try:
        yield
    except httpx.TransportError as error:
        if isinstance(error.__cause__, aiohttp.ClientError):
            raise httpx_error(error.__cause__, request) from None
        raise
    except aiohttp.ClientError as error:
        raise httpx_error(error, request) from None


class _ResponseStream(httpx.AsyncByteStream):
    """The response body: read errors mapped like the request's, the pool slot given back on close."""

    def __init__(
        self, inner: httpx.AsyncByteStream, request: httpx.Request, release: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._request = request
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        try:
            with _httpx_errors(self._request):
                await self._inner.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class EventApiTransport(AiohttpTransport):
    """``httpx_aiohttp.AiohttpTransport`` that behaves as httpx's own transport where it differs.

    It raises only httpx's errors (see the module's documentation), and it waits for a free
    connection itself, so that ``pool`` bounds that wait alone and ends it with ``httpx.PoolTimeout``
    while ``connect`` bounds the connecting (``httpx-aiohttp`` gives aiohttp one timeout for both).
    ``session`` is the aiohttp session it sends through, closed with the transport.
    """

    def __init__(self, session: ClientSession, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits, client=session)
        self._slots = asyncio.Semaphore(limits.max_connections or _UNLIMITED)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeout.get("pool")):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no connection became free within the pool timeout", request=request
                ) from None
        else:
            await self._slots.acquire()  # a slot is free: taken at once, no timer needed
        try:
            # httpx-aiohttp hands aiohttp the pool timeout as the bound on getting a connection.
            request.extensions = {
                **request.extensions,
                "timeout": {**timeout, "pool": timeout.get("connect")},
            }
            with _httpx_errors(request):
                response = await super().handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):  # pragma: no cover - always one
            self._slots.release()
            return response
        response.stream = _ResponseStream(response.stream, request, self._slots.release)
        return response
