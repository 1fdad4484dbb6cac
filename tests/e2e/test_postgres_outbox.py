"""The service and its commands with the PostgreSQL outbox: named, never with its password, and used
by every ``eventgate outbox`` command as the SQLite file is."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus
from adapters.postgres_outbox.store import PostgresOutboxStore
from domain.event import UserEvent
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.postgres_cluster import SHARED_URL, fresh_schema
from tests.processes import free_port

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
PASSWORD = "a-password-nobody-may-see"
WITH_PASSWORD = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/postgres"
"""The shared server trusts loopback, so it ignores the password; eventgate must hide it all the same."""
SERVABLE = {"EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema of the shared server, dropped afterwards (a plain fixture: sync tests use it too)."""
    names = fresh_schema()
    name = asyncio.run(names.__aenter__())
    yield name
    asyncio.run(names.__aexit__(None, None, None))


def eventgate(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVENTGATE, *arguments],
        env=os.environ | SERVABLE | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.anyio
async def test_accepted_events_go_through_the_postgresql_outbox_to_the_bus(schema: str) -> None:
    bus = InMemoryEventBus()
    container = container_for(
        SERVABLE | {"EVENTGATE_OUTBOX_URL": SHARED_URL, "EVENTGATE_OUTBOX_SCHEMA": schema}
    )
    container.bus_backend.override(providers.Object(bus))
    async with AsyncTestClient(app=create_app(container)) as client:
        ready = await client.get("/readyz")
        answer = await client.post(
            "/api", json={"name": "app/signed-up"}, headers={"Cookie": "eventgate.dev-session=dev"}
        )
        for _ in range(100):
            if bus.published:
                break
            await asyncio.sleep(0.05)
        scraped = (await client.get("/metrics")).text

    assert ready.json() == {"status": "ready", "checks": {"outbox.postgresql": "ok", "relay": "ok"}}
    assert answer.status_code == 200
    assert [event.id for event in bus.published] == answer.json()["ids"]
    assert "eventgate_outbox_pending_events 0.0" in scraped.splitlines()


def test_only_the_chosen_store_is_in_the_container() -> None:
    postgres = container_for(SERVABLE | {"EVENTGATE_OUTBOX_URL": SHARED_URL})
    sqlite = container_for(SERVABLE)
    direct = container_for(SERVABLE | {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_OUTBOX_URL": SHARED_URL})

    assert list(postgres.outbox.providers) == ["postgresql"]
    assert list(sqlite.outbox.providers) == ["sqlite"]
    assert list(direct.outbox.providers) == []


def test_check_config_names_the_postgresql_outbox_without_its_password(schema: str) -> None:
    result = eventgate(
        "check-config",
        "--json",
        environment={"EVENTGATE_OUTBOX_URL": WITH_PASSWORD, "EVENTGATE_OUTBOX_SCHEMA": schema},
    )

    report = json.loads(result.stdout)
    assert result.returncode == 0, report["problem"]
    assert report["outbox"] == f"PostgreSQL at 127.0.0.1:5432/postgres, schema {schema}"
    assert PASSWORD not in result.stdout + result.stderr


def test_serve_refuses_a_database_it_cannot_reach_with_one_line_naming_the_variable() -> None:
    unreachable = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/events"

    result = eventgate("serve", "--port", str(free_port()), environment={"EVENTGATE_OUTBOX_URL": unreachable})

    assert result.returncode == 2
    assert result.stderr.startswith("eventgate: EVENTGATE_OUTBOX_URL=postgresql://127.0.0.1:")
    assert "/events cannot be used" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert PASSWORD not in result.stderr


def test_an_outbox_url_of_another_database_is_refused_without_being_shown() -> None:
    result = eventgate("check-config", environment={"EVENTGATE_OUTBOX_URL": f"mysql://root:{PASSWORD}@db/x"})

    assert result.returncode == 2
    assert "EVENTGATE_OUTBOX_URL=(hidden) is not valid: must be a postgresql:// URL" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_every_outbox_command_works_on_the_postgresql_outbox(schema: str) -> None:
    environment = {"EVENTGATE_OUTBOX_URL": SHARED_URL, "EVENTGATE_OUTBOX_SCHEMA": schema}

    migrated = eventgate("outbox", "migrate", environment=environment)
    asyncio.run(fill(schema))
    status = json.loads(eventgate("outbox", "status", "--json", environment=environment).stdout)
    dead = eventgate("outbox", "dead", environment=environment).stdout
    retried = eventgate("outbox", "retry", "event-0", environment=environment).stdout
    purged = eventgate("outbox", "purge", "--delivered", environment=environment).stdout
    after = json.loads(eventgate("outbox", "status", "--json", environment=environment).stdout)

    assert migrated.stdout == "the outbox's tables are up to date (0 events pending)\n"
    assert (status["pending"], status["dead"]) == (1, 1)
    assert dead.startswith("event-0\tapp/e\t")
    assert dead.endswith("\t1\tinvalid event: data too deep\n")
    assert retried == "1 dead events will be delivered again\n"
    assert purged == "1 delivered events purged\n"
    assert (after["pending"], after["dead"]) == (2, 0)


async def fill(schema: str) -> None:
    """Three events: one the bus refused as invalid, one delivered, one pending."""
    outbox = PostgresOutboxStore(SHARED_URL, schema=schema)
    await outbox.open()
    await outbox.append(
        [UserEvent(name="app/e", data={"user": {"id": "u"}}, id=f"event-{n}", ts=n) for n in range(3)]
    )
    await outbox.claim("relay", 2, 30)
    await outbox.dead_letter("relay", ["event-0"], "invalid event: data too deep")
    await outbox.mark_delivered("relay", ["event-1"])
    await outbox.close()
