"""The Litestar application, built by a factory from a ready container."""

import inspect
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import TypeVar, cast

from dependency_injector import providers
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin

from application.record_user_event import RecordUserEvent
from entrypoints.api import record_event
from entrypoints.container import Container
from entrypoints.problems import problem_details_config, unexpected_error_handler
from entrypoints.relay_task import RelayTask

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


async def start_relay(container: Container) -> RelayTask:
    return RelayTask(await resolve(container.relay), await resolve(container.outbox))


def create_app(container: Container) -> Litestar:
    """An app whose handlers get their use cases from ``container``; its lifespan owns the resources.

    Start-up opens only what the configured delivery needs (the outbox, the bus's HTTP client)
    and, in outbox mode, starts the relay; shutdown lets the relay drain for the grace period.
    """
    config = container.config

    @asynccontextmanager
    async def resources(_: Litestar) -> AsyncIterator[None]:
        relay: RelayTask | None = None
        try:
            await resolve(container.event_bus)
            if config.delivery.mode() == "outbox" and config.relay.in_service():
                relay = await start_relay(container)
            yield
        finally:
            if relay is not None:
                await relay.stop(config.relay.shutdown_grace())
            await settle(container.shutdown_resources())

    async def provide_record_user_event() -> RecordUserEvent:
        return await resolve(container.record_user_event)

    return Litestar(
        route_handlers=[record_event],
        dependencies={"record_user_event": Provide(provide_record_user_event)},
        plugins=[ProblemDetailsPlugin(problem_details_config())],
        exception_handlers={Exception: unexpected_error_handler},
        lifespan=[resources],
        openapi_config=OpenAPIConfig(title="eventgate", version=version("eventgate")),
        logging_config=None,
    )
