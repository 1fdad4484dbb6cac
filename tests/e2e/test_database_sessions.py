"""POST /api for an app whose Auth.js keeps sessions in its database: the real PostgreSQL, its tables
as @auth/pg-adapter makes them."""

import datetime
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus
from entrypoints.http.app import create_app
from entrypoints.http.docs import ANSWERS
from tests.auth_schemas import SCHEMAS, AuthTables
from tests.containers import container_for
from tests.databases import throwaway_database
from tests.processes import free_port

pytestmark = pytest.mark.anyio

COOKIE = "authjs.session-token"


@pytest.fixture
async def tables() -> AsyncIterator[AuthTables]:
    async with throwaway_database("postgresql", "eventgate_e2e_sessions") as database:
        tables = AuthTables(SCHEMAS["pg/postgresql"], database)
        await tables.create()
        yield tables


@asynccontextmanager
async def app_reading(database_url: str, bus: InMemoryEventBus, **environment: str) -> AsyncIterator[Any]:
    container = container_for(
        {
            "EVENTGATE_DELIVERY": "direct",
            "EVENTGATE_EVENT_BUS": "memory",
            "EVENTGATE_NEXTAUTH_VERSION": "5",
            "EVENTGATE_NEXTAUTH_STRATEGY": "database",
            "EVENTGATE_NEXTAUTH_ADAPTER": "pg",
            "EVENTGATE_NEXTAUTH_DATABASE_URL": database_url,
            "EVENTGATE_NEXTAUTH_DATABASE_TIMEOUT": "0.5",
        }
        | environment
    )
    container.bus_backend.override(providers.Object(bus))
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client


def in_a_month() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)


async def test_a_database_session_records_an_event_for_the_database_user(tables: AuthTables) -> None:
    bus = InMemoryEventBus()
    user_id = await tables.add_user("Ada Lovelace", "ada@example.com", None)
    token = await tables.add_session(user_id, in_a_month())

    async with app_reading(tables.url, bus) as client:
        response = await client.post("/api", json={"data": 1}, headers={"Cookie": f"{COOKIE}={token}"})

    assert response.status_code == 200, response.text
    assert [event.data["user"] for event in bus.published] == [
        {"id": user_id, "name": "Ada Lovelace", "email": "ada@example.com"}
    ]


async def test_a_signed_out_session_is_a_401_at_once_without_the_cache(tables: AuthTables) -> None:
    bus = InMemoryEventBus()
    token = await tables.add_session(await tables.add_user("Ada", None, None), in_a_month())

    async with app_reading(tables.url, bus, EVENTGATE_NEXTAUTH_SESSION_CACHE="0") as client:
        before = await client.post("/api", json={}, headers={"Cookie": f"{COOKIE}={token}"})
        await tables.delete_session(token)
        after = await client.post("/api", json={}, headers={"Cookie": f"{COOKIE}={token}"})

    assert (before.status_code, after.status_code) == (200, 401)
    assert len(bus.published) == 1


async def test_a_database_that_does_not_answer_is_a_503_never_a_401_and_readiness_says_so() -> None:
    bus = InMemoryEventBus()
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/eventgate"

    async with app_reading(nowhere, bus) as client:
        response = await client.post(
            "/api", json={}, headers={"Cookie": f"{COOKIE}=1b4e28ba-2fa1-41d2-883f-0016d3cca427"}
        )
        ready = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["type"] == "urn:eventgate:problem:session-store-unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert (503, "session-store-unavailable") in {(answer.status, answer.slug) for answer in ANSWERS}, (
        "the README's table and the OpenAPI schema list this answer"
    )
    assert bus.published == []
    assert ready.status_code == 503
    assert "session_store" in ready.json()["checks"]


def test_check_config_says_database_sessions_need_no_secret(tmp_path: Path) -> None:
    environment = os.environ | {
        "EVENTGATE_NEXTAUTH_STRATEGY": "database",
        "EVENTGATE_NEXTAUTH_ADAPTER": "pg",
        "EVENTGATE_NEXTAUTH_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/eventgate",
        "EVENTGATE_EVENT_BUS": "memory",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
    }
    environment.pop("NEXTAUTH_SECRET", None)
    environment.pop("AUTH_SECRET", None)

    result = subprocess.run(
        [str(Path(sys.executable).with_name("eventgate")), "check-config", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    report = json.loads(result.stdout)
    assert (result.returncode, report["valid"]) == (0, True), report["problem"]
    assert "no secret is needed" in report["sessions"]
