"""A fresh container and app per test, with the in-memory adapters overridden to fakes the test holds.

Every log record of the e2e run, and the output of every server process it starts, is kept and,
at the end, searched for the secrets and session tokens the tests used: none may appear.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from domain.user import User
from entrypoints.composition.container import Container
from entrypoints.http.app import create_app
from tests.containers import container_for

ADA = User(id="user-1", name="Ada Lovelace", email="ada@example.com")
SIGNED_IN = {"Cookie": "eventgate.dev-session=ada-token"}

KNOWN_SECRETS: set[str] = set()
SERVER_OUTPUT: list[Path] = []


def watch_for(value: str) -> str:
    """Use ``value`` as a secret (a session secret, an event key, a session token) and watch for it."""
    KNOWN_SECRETS.add(value)
    return value


class KeepEverything(logging.Handler):
    """Keeps every record it is handed, formatted, and the names of the loggers they came from."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.loggers: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.loggers.add(record.name)


@pytest.fixture(scope="session", autouse=True)
def no_secret_is_ever_logged() -> Iterator[KeepEverything]:
    root = logging.getLogger()
    handler, level = KeepEverything(), root.level
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
    output = "\n".join([*handler.lines, *(path.read_text(errors="replace") for path in SERVER_OUTPUT)])
    leaked = sorted(value[:6] + "..." for value in KNOWN_SECRETS if value in output)
    assert not leaked, f"secrets found in the logs of the e2e run: {leaked}"


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
def container(bus: InMemoryEventBus) -> Iterator[Container]:
    """Direct delivery to a bus the test holds: what the bus receives is what the request sent."""
    container = container_for(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
    )
    with (
        container.bus_backend.override(providers.Object(bus)),
        container.session.override(providers.Object(InMemorySession({"ada-token": ADA}))),
    ):
        yield container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client
