"""Rate limits through the real app: per signed-in user, per address without a session, shared by Redis."""

import uuid
from typing import Any

import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from domain.user import User
from entrypoints.http.app import create_app
from tests.containers import container_for

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
USERS = {"ada": User(id="ada"), "grace": User(id="grace")}


def app(bus: InMemoryEventBus, **environment: str) -> Litestar:
    container = container_for(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
        | environment
    )
    container.bus_backend.override(providers.Object(bus))
    container.session.override(providers.Object(InMemorySession(USERS)))
    return create_app(container)


def signed_in(token: str) -> dict[str, str]:
    return JSON | {"Cookie": f"eventgate.dev-session={token}"}


async def statuses(client: AsyncTestClient[Any], headers: dict[str, str], count: int) -> list[int]:
    return [(await client.post("/api", json={}, headers=headers)).status_code for _ in range(count)]


async def test_a_user_over_the_limit_gets_429_with_retry_after_and_ratelimit_headers() -> None:
    bus = InMemoryEventBus()
    async with AsyncTestClient(app=app(bus, EVENTGATE_RATE_LIMIT="3/60")) as client:
        allowed = await statuses(client, signed_in("ada"), 3)
        refused = await client.post("/api", json={}, headers=signed_in("ada"))
        other_user = await client.post("/api", json={}, headers=signed_in("grace"))

    assert allowed == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:eventgate:problem:rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) <= 60
    assert other_user.status_code == 200
    assert len(bus.published) == 4


async def test_requests_without_a_session_are_limited_per_client_address() -> None:
    async with AsyncTestClient(app=app(InMemoryEventBus(), EVENTGATE_RATE_LIMIT_ANONYMOUS="2/60")) as client:
        answers = await statuses(client, JSON, 3)

    assert answers == [401, 401, 429]


async def test_limits_can_be_switched_off() -> None:
    environment = {"EVENTGATE_RATE_LIMIT": "off", "EVENTGATE_RATE_LIMIT_ANONYMOUS": "off"}
    async with AsyncTestClient(app=app(InMemoryEventBus(), **environment)) as client:
        answers = await statuses(client, signed_in("ada"), 50)

    assert set(answers) == {200}


async def test_two_processes_sharing_redis_share_one_limit() -> None:
    """Two apps, as two processes or machines would be, each with its own Redis connection."""
    environment = {
        "EVENTGATE_RATE_LIMIT": "4/60",
        "EVENTGATE_RATE_LIMIT_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    user = f"user-{uuid.uuid4().hex}"
    USERS[user] = User(id=user)
    first, second = app(InMemoryEventBus(), **environment), app(InMemoryEventBus(), **environment)
    async with AsyncTestClient(app=first) as one, AsyncTestClient(app=second) as two:
        answers = [
            (await client.post("/api", json={}, headers=signed_in(user))).status_code
            for client in (one, two, one, two, one, two)
        ]

    assert answers == [200, 200, 200, 200, 429, 429]
