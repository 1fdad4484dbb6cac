"""An app stopped and started again in the same process publishes as before, with a new HTTP client."""

from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemorySession
from entrypoints.composition.container import Container
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN
from tests.integration.inngest_stand_in import EventApiStandIn

pytestmark = pytest.mark.anyio


@pytest.fixture
def stand_in() -> Iterator[EventApiStandIn]:
    with EventApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def container(stand_in: EventApiStandIn) -> Iterator[Container]:
    container = container_for(
        {
            "EVENTGATE_DELIVERY": "direct",
            "EVENTGATE_SESSION": "memory",
            "INNGEST_EVENT_KEY": "evtkey-restart-0123456789abcdef",
            "INNGEST_EVENT_API_BASE_URL": stand_in.url,
        }
    )
    with container.session.override(providers.Object(InMemorySession({"ada-token": ADA}))):
        yield container


async def test_an_app_started_again_after_a_shutdown_still_reaches_inngest(
    container: Container, stand_in: EventApiStandIn
) -> None:
    app = create_app(container)
    answers: list[Any] = []
    for _ in range(2):
        async with AsyncTestClient(app=app) as client:
            answers.append((await client.post("/api", json={"data": {}}, headers=SIGNED_IN)).status_code)

    assert answers == [200, 200]
    assert len(stand_in.accepted_event_ids) == 2
