"""The Litestar application, built by a factory from a ready container."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin

from adapters.metrics import Metrics
from adapters.nextauth import cookie_parser
from application.ports import OutboxAdminPort, OutboxStatus
from entrypoints.composition.container import Container
from entrypoints.composition.heap import tune_collector_after_startup
from entrypoints.composition.lifecycle import shutdown
from entrypoints.composition.logs import line_handler, write_logs_through
from entrypoints.composition.resolving import resolve, settle
from entrypoints.http.access_log import access_log
from entrypoints.http.docs import document_record_event
from entrypoints.http.edge import Exchange, observe_at_the_edge
from entrypoints.http.health import healthz, readyz
from entrypoints.http.metrics import HttpRequestMetrics, OutboxStatusReader, metrics_handler
from entrypoints.http.problems import problem_details_config, unexpected_error_handler
from entrypoints.http.record_batch import record_batch_handler
from entrypoints.http.record_event import PATH as RECORD_EVENT_PATH
from entrypoints.http.record_event import record_event_route
from entrypoints.http.request_guards import OriginPolicy, request_check


def create_app(container: Container, *, tune_collector_after_start: bool = False) -> Litestar:
    """An app whose handlers get their use cases from ``container``; its lifespan owns the resources.

    Start-up starts what the configuration uses (the container holds nothing else) and puts the
    use cases into ``app.state``, where the handlers' bridges find them; shutdown stops it all in
    reverse order, the relay draining for its grace period first, and the log is written through
    (``logs.write_logs_through``). A server process tunes its garbage collector once started
    (``heap.tune_collector_after_startup``); a test process, which starts many apps, does not.
    """
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            await settle(container.init_resources())
            app.state.record_user_event = await resolve(container.record_user_event)
            app.state.readiness = await resolve(container.readiness)
            if tune_collector_after_start:
                tune_collector_after_startup()
            yield
        finally:
            await shutdown(container)
            write_logs_through()

    allowed_origins = list(settings.http.allowed_origins)
    origins = OriginPolicy(allowed_origins)
    api = Router(
        path="/",
        route_handlers=[record_batch_handler(settings.events.max_batch_events)],
        before_request=request_check(origins),
    )
    metrics = container.metrics()
    outbox_status = read_outbox_status(container) if settings.delivery.mode == "outbox" else None
    app = Litestar(
        state=State({"read_cookies": cookie_parser(settings.nextauth.version)}),
        route_handlers=[
            record_event_route(origins, settings.http.max_body_bytes),
            api,
            healthz,
            readyz,
            metrics_handler(container.metrics_registry(), outbox_status),
        ],
        plugins=[ProblemDetailsPlugin(problem_details_config(settings.http.max_body_bytes))],
        exception_handlers={Exception: unexpected_error_handler},
        lifespan=[lifespan],
        cors_config=cors_config(allowed_origins),
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(title="eventgate", version=version("eventgate")),
        logging_config=None,
    )
    document_record_event(app.openapi_schema, RECORD_EVENT_PATH)
    handler = line_handler()
    if handler is not None:
        handler.writer.count_drops_with(metrics.log_lines_dropped.inc)
    return observe_at_the_edge(app, count_api_outcomes(metrics), access_log(), HttpRequestMetrics(metrics))


def read_outbox_status(container: Container) -> OutboxStatusReader:
    async def read() -> OutboxStatus:
        outbox: OutboxAdminPort = await resolve(container.outbox)
        return await outbox.status()

    return read


def count_api_outcomes(metrics: Metrics) -> Callable[[Exchange], None]:
    """Events accepted and refused, by reason, counted from what ``POST /api`` and ``POST /api/batch``
    answered."""

    def count(exchange: Exchange) -> None:
        if exchange.method == "POST" and exchange.path in ("/api", "/api/batch"):
            metrics.record_outcome(
                exchange.status, exchange.problem_type, events=max(1, len(exchange.event_ids or ()))
            )

    return count


def cors_config(allowed_origins: list[str]) -> CORSConfig | None:
    """CORS with credentials for the Next.js app's origins only; none at all when there are none."""
    if not allowed_origins:
        return None
    return CORSConfig(
        allow_origins=allowed_origins,
        allow_methods=["POST"],
        allow_headers=["content-type", "idempotency-key"],
        allow_credentials=True,
        expose_headers=["retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"],
    )
