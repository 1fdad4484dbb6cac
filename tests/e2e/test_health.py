"""/healthz and /readyz: no session needed, no configuration shown, the failing check named."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient, TestClient

from adapters.memory import InMemoryEventBus
from domain.errors import EventBusUnavailable
from entrypoints.http.app import create_app
from tests.containers import container_for

BASE = {"EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}


async def get(environment: dict[str, str], path: str, bus: InMemoryEventBus | None = None) -> Any:
    container = container_for(BASE | environment)
    if bus is not None:
        container.bus_backend.override(providers.Object(bus))
    async with AsyncTestClient(app=create_app(container)) as client:
        return await client.get(path)


@pytest.fixture
def outbox_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "outbox"
    folder.mkdir()
    yield folder
    subprocess.run(["chattr", "-i", *map(str, folder.iterdir())], check=False, timeout=30)


@pytest.mark.anyio
async def test_healthz_answers_without_a_session(tmp_path: Path) -> None:
    response = await get({"EVENTGATE_OUTBOX_PATH": str(tmp_path / "o.sqlite3")}, "/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_readyz_in_outbox_mode_checks_the_outbox_and_the_relay(tmp_path: Path) -> None:
    response = await get({"EVENTGATE_OUTBOX_PATH": str(tmp_path / "o.sqlite3")}, "/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"outbox.sqlite": "ok", "relay": "ok"}}


@pytest.mark.anyio
async def test_readyz_in_direct_mode_names_an_unavailable_bus() -> None:
    bus = InMemoryEventBus()
    bus.fail_always(EventBusUnavailable("inngest is down"))

    response = await get({"EVENTGATE_DELIVERY": "direct"}, "/readyz", bus)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"event_bus": "inngest is down"}


def test_readyz_names_an_outbox_that_cannot_be_written(outbox_folder: Path) -> None:
    """``chattr +i`` makes the database and its WAL unwritable even for root (see tests/reliability)."""
    path = outbox_folder / "outbox.sqlite3"
    container = container_for(BASE | {"EVENTGATE_OUTBOX_PATH": str(path)})
    with TestClient(app=create_app(container)) as client:
        files = [str(p) for p in outbox_folder.iterdir() if not p.name.endswith("-shm")]
        subprocess.run(["chattr", "+i", *files], check=True, timeout=30)
        response = client.get("/readyz")
        subprocess.run(["chattr", "-i", *files], check=True, timeout=30)

    assert response.status_code == 503
    assert list(response.json()["checks"]) == ["outbox.sqlite"]
    assert str(outbox_folder) not in response.text, "no path or other configuration is shown"


@pytest.mark.anyio
async def test_readyz_shows_no_secret_of_the_inngest_configuration() -> None:
    environment = {
        "EVENTGATE_DELIVERY": "direct",
        "EVENTGATE_EVENT_BUS": "inngest",
        "INNGEST_EVENT_KEY": "k-secret",
    }
    environment["INNGEST_BASE_URL"] = "http://127.0.0.1:9"

    response = await get(environment, "/readyz")

    assert response.status_code == 503
    assert "k-secret" not in response.text
    assert "127.0.0.1" not in response.text
