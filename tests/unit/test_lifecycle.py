"""Resources stop after everything that uses them, however many factories lie in between."""

from collections.abc import AsyncIterator

import pytest
from dependency_injector import containers, providers

from entrypoints.composition.lifecycle import shutdown

pytestmark = pytest.mark.anyio


class Events:
    def __init__(self) -> None:
        self.log: list[str] = []


async def store(events: Events) -> AsyncIterator[str]:
    events.log.append("store opened")
    yield "store"
    events.log.append("store closed")


async def relay(uses: str, events: Events) -> AsyncIterator[str]:
    events.log.append(f"relay started on {uses}")
    yield "relay"
    events.log.append("relay drained")


class Wired(containers.DeclarativeContainer):
    events = providers.Singleton(Events)
    outbox = providers.Resource(store, events)
    relay = providers.Resource(
        relay, uses=providers.Factory(str, providers.Factory(str, outbox)), events=events
    )


async def test_a_resource_reached_through_factories_stops_after_its_user() -> None:
    container = Wired()
    await container.init_resources()  # type: ignore[misc]

    await shutdown(container)

    assert container.events().log[-2:] == ["relay drained", "store closed"]
