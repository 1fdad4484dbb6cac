"""A fresh container and app per test, with the in-memory adapters overridden to fakes the test holds."""

from collections.abc import AsyncIterator, Iterator

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from domain.user import User
from entrypoints.app import create_app
from entrypoints.container import Container, build_container

ADA = User(id="user-1", name="Ada Lovelace", email="ada@example.com")
SIGNED_IN = {"Cookie": "eventgate.dev-session=ada-token"}


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
def container(bus: InMemoryEventBus) -> Iterator[Container]:
    """Direct delivery to a bus the test holds: what the bus receives is what the request sent."""
    container = build_container(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
    )
    with (
        container.bus.override(providers.Object(bus)),
        container.session.override(providers.Object(InMemorySession({"ada-token": ADA}))),
    ):
        yield container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client
