"""``GET /metrics`` and the HTTP request metrics, for the app factory to wire in.

- ``HttpRequestMetrics(metrics)`` counts and times every HTTP request the edge saw, 404s and 405s included;
- ``metrics_handler(registry, outbox_status)`` is the ``GET /metrics`` route handler;
- ``Metrics.record_outcome(status, problem_type)`` counts what a ``POST /api`` came to.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from litestar import Response, get
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from adapters.metrics.outbox_collector import OutboxStatusCollector
from adapters.metrics.registry import Metrics
from application.ports import OutboxStatus
from entrypoints.http.edge import Exchange

logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"
"""The route label of a request no route handled (404, 405, a CORS preflight): paths stay unlabelled."""
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
STATUS_TIMEOUT_SECONDS = 5.0

OutboxStatusReader = Callable[[], Awaitable[OutboxStatus]]


class HttpRequestMetrics:
    """Counts each HTTP request the edge saw by route, method and status, and times it.

    The route is Litestar's path template (``/items/{item_id}``), so label values stay as few as
    the routes; a request no route took is ``unmatched``, and a method outside HTTP's own is
    ``OTHER``. The time runs until the app has finished answering.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._requests = metrics.http_requests
        self._duration = metrics.http_request_duration
        self._recorders: dict[tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}

    def __call__(self, exchange: Exchange) -> None:
        route = exchange.route or UNMATCHED_ROUTE
        method = exchange.method if exchange.method in KNOWN_METHODS else OTHER_METHOD
        key = (route, method, exchange.status)
        recorders = self._recorders.get(key)
        if recorders is None:
            recorders = self._recorders[key] = (
                self._requests.labels(route, method, exchange.status).inc,
                self._duration.labels(route, method).observe,
            )
        count, observe = recorders
        count()
        observe(exchange.seconds)


class _Scrape:
    """The collectors of one scrape, rendered as one exposition."""

    def __init__(self, *collectors: CollectorRegistry | OutboxStatusCollector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def render_metrics(registry: CollectorRegistry, outbox: OutboxStatus | None = None) -> bytes:
    """The Prometheus text exposition of ``registry``, and of the outbox gauges when a status is given."""
    if outbox is None:
        return generate_latest(registry)
    return generate_latest(_Scrape(registry, OutboxStatusCollector(outbox)))


def metrics_handler(
    registry: CollectorRegistry,
    outbox_status: OutboxStatusReader | None = None,
    *,
    path: str = "/metrics",
    status_timeout: float = STATUS_TIMEOUT_SECONDS,
) -> HTTPRouteHandler:
    """``GET /metrics``: ``registry`` and, when ``outbox_status`` is given, the outbox gauges.

    The status is read for each scrape; when it fails or takes longer than ``status_timeout``, the
    outbox gauges are left out of that scrape (alert on their absence) and the rest is served.
    Rendering runs in a worker thread: in multiprocess mode it reads every process's files.
    """

    @get(path, include_in_schema=False, name="metrics")
    async def serve_metrics() -> Response[bytes]:
        status = None if outbox_status is None else await _read(outbox_status, status_timeout)
        body = await asyncio.to_thread(render_metrics, registry, status)
        # As a header: Litestar would add a second charset to a text media type that has one.
        return Response(body, media_type=MediaType.TEXT, headers={"content-type": CONTENT_TYPE_LATEST})

    return serve_metrics


async def _read(outbox_status: OutboxStatusReader, seconds: float) -> OutboxStatus | None:
    try:
        async with asyncio.timeout(seconds):
            return await outbox_status()
    except TimeoutError:
        logger.warning("the outbox status took over %g s; this scrape has no outbox gauges", seconds)
    except Exception as error:
        logger.warning("the outbox status could not be read (%s); this scrape has no outbox gauges", error)
    return None
