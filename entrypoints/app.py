"""The Litestar application, built by a factory from a ready container."""

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from importlib.metadata import version

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin

from application.record_user_event import RecordUserEvent
from entrypoints.api import record_event
from entrypoints.container import Container
from entrypoints.problems import problem_details_config, unexpected_error_handler


async def _settle(result: Awaitable[None] | None) -> None:
    """Container resource calls return an awaitable only when some resource is asynchronous."""
    if result is not None:
        await result


def create_app(container: Container) -> Litestar:
    """An app whose handlers get their use cases from ``container``; its lifespan owns the resources."""

    @asynccontextmanager
    async def resources(_: Litestar) -> AsyncIterator[None]:
        await _settle(container.init_resources())
        try:
            yield
        finally:
            await _settle(container.shutdown_resources())

    def provide_record_user_event() -> RecordUserEvent:
        return container.record_user_event()

    return Litestar(
        route_handlers=[record_event],
        dependencies={"record_user_event": Provide(provide_record_user_event, sync_to_thread=False)},
        plugins=[ProblemDetailsPlugin(problem_details_config())],
        exception_handlers={Exception: unexpected_error_handler},
        lifespan=[resources],
        openapi_config=OpenAPIConfig(title="eventgate", version=version("eventgate")),
        logging_config=None,
    )
