"""POST /api to each broker the service can be configured with, in both delivery modes: through the
outbox and the relay, and direct (published inside the request).

NATS runs as a private ``nats-server`` of the test's; RabbitMQ is the machine's, with an exchange and
a queue of the test's own, deleted afterwards. What a consumer reads is the JSON Inngest receives.
"""

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiormq
import nats
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from adapters.memory import InMemorySession
from entrypoints.http.app import create_app
from tests.brokers import NatsServer, delete_rabbitmq, unique_name
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

Read = Callable[[], Coroutine[Any, Any, list[tuple[bytes, str | None]]]]


@pytest.fixture(params=["outbox", "direct"])
def delivery(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def service(environment: dict[str, str], tmp_path: Path, delivery: str) -> AsyncIterator[Any]:
    container = container_for(
        {
            "EVENTGATE_DELIVERY": delivery,
            "EVENTGATE_SESSION": "memory",
            "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
            "EVENTGATE_RELAY_GATHER": "0",
            "EVENTGATE_RATE_LIMIT": "off",
        }
        | environment
    )
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    async with AsyncTestClient(app=create_app(container)) as client:
        yield client


async def arrives(read: Read, event_id: str) -> tuple[bytes, str | None]:
    for _ in range(100):
        for body, message_id in await read():
            if message_id == event_id:
                return body, message_id
        await asyncio.sleep(0.05)
    pytest.fail(f"event {event_id} never reached the broker")


async def published_total(client: Any, backend: str) -> float:
    """``eventgate_events_published_total`` of ``backend`` once it counts an event, or 0 after a while."""
    sample = f'eventgate_events_published_total{{backend="{backend}"}} '
    for _ in range(100):
        text = (await client.get("/metrics")).text
        [value] = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample)]
        if value:
            return value
        await asyncio.sleep(0.05)
    return 0.0


async def record_and_read(client: Any, read: Read, backend: str) -> None:
    response = await client.post(
        "/api", json={"name": "app/user.clicked", "data": {"n": 1}}, headers=SIGNED_IN
    )
    assert response.status_code == 200, response.text
    [event_id] = response.json()["ids"]

    body, _ = await arrives(read, event_id)

    event = json.loads(body)
    assert set(event) == {"name", "data", "id", "ts"}
    assert (event["name"], event["id"], event["data"]["payload"]) == ("app/user.clicked", event_id, {"n": 1})
    assert event["data"]["user"]["id"] == ADA.id
    assert await published_total(client, backend) == 1


async def test_an_event_reaches_a_jetstream_consumer(tmp_path: Path, delivery: str) -> None:
    server = NatsServer(tmp_path)
    server.start()
    stream = unique_name("E2E")

    async def read() -> list[tuple[bytes, str | None]]:
        client = await nats.connect(server.url)
        try:
            js = client.jetstream()
            info = await js.stream_info(stream)
            subscription = await js.pull_subscribe("e2e.>", stream=stream)
            messages = await subscription.fetch(info.state.messages or 1, timeout=1)
            return [(message.data, (message.headers or {}).get("Nats-Msg-Id")) for message in messages]
        except (nats.errors.TimeoutError, nats.js.errors.NotFoundError):
            return []
        finally:
            await client.close()

    try:
        environment = {
            "EVENTGATE_EVENT_BUS": "nats",
            "EVENTGATE_NATS_URL": server.url,
            "EVENTGATE_NATS_STREAM": stream,
            "EVENTGATE_NATS_SUBJECT_PREFIX": "e2e",
        }
        async with service(environment, tmp_path, delivery) as client:
            await record_and_read(client, read, environment["EVENTGATE_EVENT_BUS"])
    finally:
        server.stop()


async def test_an_event_reaches_a_rabbitmq_queue(tmp_path: Path, delivery: str) -> None:
    name = unique_name("e2e")

    async def read() -> list[tuple[bytes, str | None]]:
        read_so_far: list[tuple[bytes, str | None]] = []
        async with aiormq.connect("amqp://guest:guest@127.0.0.1:5672/") as connection:
            channel = await connection.channel()
            while (message := await channel.basic_get(name, no_ack=True)).delivery_tag is not None:
                read_so_far.append((message.body, message.header.properties.message_id))
        return read_so_far

    environment = {
        "EVENTGATE_EVENT_BUS": "rabbitmq",
        "EVENTGATE_RABBITMQ_EXCHANGE": name,
        "EVENTGATE_RABBITMQ_QUEUE": name,
    }
    try:
        async with service(environment, tmp_path, delivery) as client:
            await record_and_read(client, read, environment["EVENTGATE_EVENT_BUS"])
    finally:
        await delete_rabbitmq(name, name)


async def test_an_event_no_rabbitmq_queue_takes_is_refused_with_the_brokers_reason(
    tmp_path: Path, delivery: str
) -> None:
    """No queue bound (``EVENTGATE_RABBITMQ_QUEUE`` empty): the broker returns the event as unroutable.
    In direct mode the caller gets 502; in outbox mode the relay puts it on the dead-letter list with
    the broker's reason."""
    name = unique_name("e2e")
    environment = {
        "EVENTGATE_EVENT_BUS": "rabbitmq",
        "EVENTGATE_RABBITMQ_EXCHANGE": name,
        "EVENTGATE_RABBITMQ_QUEUE": "",
    }
    try:
        async with service(environment, tmp_path, delivery) as client:
            response = await client.post("/api", json={"name": "app/user.clicked"}, headers=SIGNED_IN)
            if delivery == "direct":
                assert response.status_code == 502, response.text
                assert response.json()["type"] == "urn:eventgate:problem:event-rejected"
                return
            assert response.status_code == 200, response.text
            [event_id] = response.json()["ids"]
            reason = await dead_letter_reason(tmp_path / "outbox.sqlite3", event_id)
    finally:
        await delete_rabbitmq(name, "")

    assert "unroutable" in reason
    assert name in reason


async def dead_letter_reason(outbox: Path, event_id: str) -> str:
    for _ in range(100):
        with contextlib.closing(sqlite3.connect(outbox)) as reader:
            row = reader.execute(
                "SELECT last_error FROM outbox WHERE id = ? AND state = 'dead'", (event_id,)
            ).fetchone()
        if row is not None:
            return str(row[0])
        await asyncio.sleep(0.05)
    pytest.fail(f"event {event_id} was never dead-lettered")


@pytest.mark.parametrize("backend", ["nats", "rabbitmq"])
async def test_in_direct_mode_rejected_credentials_answer_503_and_readiness_names_the_cause(
    tmp_path: Path, backend: str
) -> None:
    """As for Inngest's rejected event key: the caller may try again later (503, nothing internal
    shown); ``/readyz`` says why no event can pass."""
    server = NatsServer(tmp_path, token="the-right-t0ken")
    server.start()
    name = unique_name("e2e")
    environment = {
        "nats": {
            "EVENTGATE_EVENT_BUS": "nats",
            "EVENTGATE_NATS_URL": server.url,
            "EVENTGATE_NATS_TOKEN": "a-wr0ng-t0ken",
            "EVENTGATE_NATS_CONNECT_TIMEOUT": "0.5",
        },
        "rabbitmq": {
            "EVENTGATE_EVENT_BUS": "rabbitmq",
            "EVENTGATE_RABBITMQ_URL": "amqp://guest:a-wr0ng-one@127.0.0.1:5672/",
            "EVENTGATE_RABBITMQ_EXCHANGE": name,
            "EVENTGATE_RABBITMQ_QUEUE": name,
            "EVENTGATE_RABBITMQ_CONNECT_TIMEOUT": "0.5",
        },
    }[backend]
    try:
        async with service(environment, tmp_path, "direct") as client:
            response = await client.post("/api", json={"name": "app/user.clicked"}, headers=SIGNED_IN)
            readiness = await client.get("/readyz")
    finally:
        server.stop()

    assert response.status_code == 503, response.text
    assert response.json()["type"] == "urn:eventgate:problem:event-bus-unavailable"
    assert "wr0ng" not in response.text + readiness.text
    assert "credentials" not in response.text
    assert readiness.status_code == 503
    assert "credentials rejected" in readiness.text


def test_the_app_always_shuts_down_while_nats_rejects_its_credentials(tmp_path: Path) -> None:
    """nats-py can lose the cancellation of a connection that the server refuses attempt after attempt,
    and go on trying for ever: the app's shutdown hung on it, within a few starts. The starts run in a
    thread of their own, so that a hang fails the test instead of hanging the suite."""
    server = NatsServer(tmp_path, token="the-right-t0ken")
    server.start()
    environment = {
        "EVENTGATE_EVENT_BUS": "nats",
        "EVENTGATE_NATS_URL": server.url,
        "EVENTGATE_NATS_TOKEN": "a-wr0ng-t0ken",
        "EVENTGATE_NATS_CONNECT_TIMEOUT": "0.5",
    }
    started: list[int] = []

    async def start_and_stop() -> None:
        for start in range(15):
            async with service(environment, tmp_path, "direct") as client:
                await client.post("/api", json={"name": "app/user.clicked"}, headers=SIGNED_IN)
                await client.get("/readyz")
            started.append(start)

    starts = threading.Thread(target=asyncio.run, args=(start_and_stop(),), daemon=True)
    try:
        starts.start()
        starts.join(120)
    finally:
        server.stop()

    assert not starts.is_alive(), f"the app did not shut down after start {len(started)}"
    assert len(started) == 15
