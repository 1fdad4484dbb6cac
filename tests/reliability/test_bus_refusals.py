"""A broker that refuses eventgate itself, on the real service in outbox mode: a delivery outage.

``eventgate serve`` starts with credentials the broker rejects: a private ``nats-server`` asking for
a token, or the shared RabbitMQ with a wrong password for guest. Every request is still accepted and
every event stays pending; ``/readyz`` names the refusal, one log line and one pause counted by its
cause say it. Restarted with the right credentials, the service delivers every event.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiormq
import httpx
import pytest

from tests.brokers import RABBITMQ_URL, NatsServer, delete_rabbitmq, unique_name
from tests.consumers import read_stream
from tests.reliability.harness import LoadResult, Service, drive_load, report, wait_until

EVENTS = 60
CAUSE = "credentials rejected"
NATS_TOKEN = "the-right-t0ken"


@dataclass(frozen=True, slots=True)
class RefusingBroker:
    """The settings that reach the broker with the wrong credentials and the right ones, and what it took."""

    wrong: dict[str, str]
    right: dict[str, str]
    delivered_ids: Callable[[], list[str]]


@contextmanager
def nats_broker(folder: Path) -> Iterator[RefusingBroker]:
    folder.mkdir()
    server = NatsServer(folder, token=NATS_TOKEN)
    server.start()
    settings = {
        "EVENTGATE_EVENT_BUS": "nats",
        "EVENTGATE_NATS_URL": server.url,
        "EVENTGATE_NATS_PUBLISH_DEADLINE": "3",
        "EVENTGATE_NATS_CONNECT_TIMEOUT": "1",
    }

    def delivered_ids() -> list[str]:
        url = f"nats://{NATS_TOKEN}@127.0.0.1:{server.port}"
        return [arrival.event_id for arrival in asyncio.run(read_stream(url, "EVENTGATE", "eventgate.>"))]

    try:
        yield RefusingBroker(
            settings | {"EVENTGATE_NATS_TOKEN": "a-wr0ng-t0ken"},
            settings | {"EVENTGATE_NATS_TOKEN": NATS_TOKEN},
            delivered_ids,
        )
    finally:
        server.stop()


@contextmanager
def rabbitmq_broker(_: Path) -> Iterator[RefusingBroker]:
    name = unique_name("refused")
    settings = {
        "EVENTGATE_EVENT_BUS": "rabbitmq",
        "EVENTGATE_RABBITMQ_EXCHANGE": name,
        "EVENTGATE_RABBITMQ_QUEUE": name,
        "EVENTGATE_RABBITMQ_PUBLISH_DEADLINE": "3",
        "EVENTGATE_RABBITMQ_CONNECT_TIMEOUT": "1",
    }

    async def read_queue() -> list[str]:
        ids = []
        async with aiormq.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            while (message := await channel.basic_get(name, no_ack=True)).delivery_tag is not None:
                ids.append(str(message.header.properties.message_id))
        return ids

    def delivered_ids() -> list[str]:
        return asyncio.run(read_queue())

    try:
        yield RefusingBroker(
            settings | {"EVENTGATE_RABBITMQ_URL": RABBITMQ_URL.replace("guest:guest@", "guest:a-wr0ng-one@")},
            settings | {"EVENTGATE_RABBITMQ_URL": RABBITMQ_URL},
            delivered_ids,
        )
    finally:
        asyncio.run(delete_rabbitmq(name, name))


BROKERS = {"nats": nats_broker, "rabbitmq": rabbitmq_broker}


def pending(service: Service) -> int:
    return int(json.loads(service.outbox_command("status", "--json").stdout)["pending"])


def pauses(service: Service) -> list[str]:
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    return [line for line in metrics.splitlines() if line.startswith("eventgate_delivery_pauses_total{")]


@dataclass
class Observed:
    """What the refused service showed, and what the broker held once it was restarted right."""

    load: LoadResult
    readiness: httpx.Response
    paused: list[str]
    pending: int
    lines: list[str]
    ready_again: httpx.Response
    delivered: list[str]


def refused_then_right(service: Service, broker: RefusingBroker) -> Observed:
    service.environment |= broker.wrong
    service.start()
    try:
        load = asyncio.run(drive_load(service.url, EVENTS, concurrency=8))
        wait_until(lambda: bool(pauses(service)), 20, "delivery paused")
        time.sleep(2)  # the relay probes meanwhile, and sends a batch now and then
        readiness = httpx.get(f"{service.url}/readyz", timeout=10)
        paused = pauses(service)
        waiting = pending(service)
    finally:
        service.stop()
    lines = service.log.read_text().splitlines()

    service.environment |= broker.right
    service.start()
    try:
        wait_until(lambda: pending(service) == 0, 30, "every event was delivered")
        ready_again = httpx.get(f"{service.url}/readyz", timeout=10)
    finally:
        service.stop()
    return Observed(load, readiness, paused, waiting, lines, ready_again, broker.delivered_ids())


def observe(backend: str, folder: Path) -> Observed:
    with BROKERS[backend](folder / "broker") as broker:
        return refused_then_right(Service(folder=folder / "outbox"), broker)


@pytest.mark.parametrize("backend", list(BROKERS))
def test_rejected_credentials_pause_delivery_once_keep_every_event_and_resume_with_the_right_ones(
    backend: str, tmp_path: Path
) -> None:
    observed = observe(backend, tmp_path)

    said = [line for line in observed.lines if CAUSE in line]
    report(f"{backend}: {CAUSE}", log_lines=len(said), pending=observed.pending, pauses=observed.paused)
    assert observed.load.statuses == Counter({200: EVENTS})
    assert observed.pending == EVENTS
    assert observed.readiness.status_code == 503
    assert CAUSE in observed.readiness.json()["checks"]["relay"]
    assert observed.paused == [
        f'eventgate_delivery_pauses_total{{backend="{backend}",cause="credentials-rejected"}} 1.0'
    ]
    assert len(said) == 1, said
    assert json.loads(said[0])["level"] == "error"
    assert not [line for line in observed.lines if "reachable" in line], "no line calls it unreachable"
    noise = [line for line in observed.lines if '"level":"info"' not in line]
    assert len(noise) <= 3, noise  # the start-up check's answer, the adapter's, the relay's pause
    assert observed.ready_again.status_code == 200
    assert sorted(observed.delivered) == sorted(observed.load.acknowledged)
