"""The Litestar application, built by a factory from a ready container."""

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import TypeVar, cast

from dependency_injector import providers
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin

from adapters.coalescing import CoalescingEventBus
from adapters.metrics import Metrics
from adapters.sqlite_outbox.store import OutboxStatus
from application.record_user_event import RecordUserEvent
from entrypoints.access_log import log_exchange
from entrypoints.api import record_event_handler
from entrypoints.batch_api import record_batch_handler
from entrypoints.container import Container
from entrypoints.edge import Exchange, observe_at_the_edge
from entrypoints.health import Readiness, healthz, readyz
from entrypoints.heap import freeze_startup_heap
from entrypoints.metrics import HttpRequestMetrics, OutboxStatusReader, metrics_handler
from entrypoints.problems import problem_details_config, unexpected_error_handler
from entrypoints.relay_task import RelayTask
from entrypoints.request_guards import OriginPolicy, request_check

T = TypeVar("T")


async def settle(result: Awaitable[None] | None) -> None:
    """Container resource calls return an awaitable only when some resource is asynchronous."""
    if result is not None:
        await result


async def resolve(provider: providers.Provider[T]) -> T:
    """What ``provider`` provides: awaited when an asynchronous resource stands behind it."""
    provided: object = provider()
    if inspect.isawaitable(provided):
        provided = await provided
    return cast(T, provided)


HAND_OFF_BATCHES = 4
"""Batches' worth of accepted events the outbox keeps in memory for this process's relay."""


async def start_relay(container: Container) -> RelayTask:
    """The relay, running; what this process accepts from now on is handed to it in memory."""
    outbox = await resolve(container.outbox)
    config = container.config.relay
    outbox.hand_off_to(
        container.relay_owner(), config.lease_seconds(), capacity=HAND_OFF_BATCHES * config.batch_size()
    )
    return RelayTask(await resolve(container.relay), outbox)


def create_app(container: Container, *, freeze_heap_after_start: bool = False) -> Litestar:
    """An app whose handlers get their use cases from ``container``; its lifespan owns the resources.

    Start-up opens only what the configured delivery needs (the outbox, the bus's HTTP client)
    and, in outbox mode, starts the relay; shutdown lets the relay drain for the grace period,
    closes everything, and forgets what cannot be started twice, so that the app can start again.
    A server process freezes its heap once started (``heap.freeze_startup_heap``); a test process,
    which starts many apps, does not.
    """
    config = container.config
    readiness = Readiness()

    @asynccontextmanager
    async def resources(_: Litestar) -> AsyncIterator[None]:
        relay: RelayTask | None = None
        coalescer: CoalescingEventBus | None = None
        try:
            use_case[:] = [await resolve(container.record_user_event)]
            event_bus = await resolve(container.event_bus)
            if isinstance(event_bus, CoalescingEventBus):
                coalescer = event_bus
            if config.delivery.mode() == "outbox":
                outbox = await resolve(container.outbox)
                readiness.add("outbox", outbox)
                if config.relay.in_service():
                    relay = await start_relay(container)
                    readiness.add("relay", relay.relay)
            else:
                readiness.add("event_bus", event_bus)
            if freeze_heap_after_start:
                freeze_startup_heap()
            yield
        finally:
            if relay is not None:
                await relay.stop(config.relay.shutdown_grace())
            if coalescer is not None:
                await coalescer.close()
            await settle(container.shutdown_resources())
            for holds_a_closed_resource in (container.inngest_bus, container.bus, container.direct_bus):
                holds_a_closed_resource.reset()
            container.relay.reset()

    use_case: list[RecordUserEvent] = []

    def provide_record_user_event() -> RecordUserEvent:
        """The use case built at start: it holds no request state, and building it per request
        (through the container's asynchronous resources) cost more than the rest of the handler."""
        return use_case[0]

    allowed_origins = list(config.http.allowed_origins())
    api = Router(
        path="/",
        route_handlers=[
            record_event_handler(provide_record_user_event),
            record_batch_handler(provide_record_user_event, config.events.max_batch_events()),
        ],
        before_request=request_check(OriginPolicy(allowed_origins)),
    )
    metrics = container.metrics()
    outbox_status = read_outbox_status(container) if config.delivery.mode() == "outbox" else None
    app = Litestar(
        route_handlers=[api, healthz, readyz, metrics_handler(container.metrics_registry(), outbox_status)],
        dependencies={"readiness": Provide(lambda: readiness, sync_to_thread=False)},
        plugins=[ProblemDetailsPlugin(problem_details_config(config.http.max_body_bytes()))],
        exception_handlers={Exception: unexpected_error_handler},
        lifespan=[resources],
        cors_config=cors_config(allowed_origins),
        request_max_body_size=config.http.max_body_bytes(),
        openapi_config=OpenAPIConfig(title="eventgate", version=version("eventgate")),
        logging_config=None,
    )
    return observe_at_the_edge(app, count_api_outcomes(metrics), log_exchange, HttpRequestMetrics(metrics))


def read_outbox_status(container: Container) -> OutboxStatusReader:
    async def read() -> OutboxStatus:
        return await (await resolve(container.outbox)).status()

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
