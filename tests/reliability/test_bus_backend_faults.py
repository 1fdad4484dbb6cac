"""The outbox's promise on NATS JetStream and on RabbitMQ, with the broker or the service failing.

Each scenario runs ``eventgate serve`` in outbox mode as a subprocess, drives signed-in requests at
it, fails something, and reads back with a real consumer what reached the broker: every event
answered 200 arrives, and each once after the broker's (NATS) or the consumer's (RabbitMQ)
deduplication. The service is killed while the broker's answers are lost, so that the restart
finds events the broker holds still pending, and has to send them again.

The figures are printed (``pytest -s``): requests sent, left unanswered, acknowledged; events
delivered; messages at transport level and how many of them repeated an event; and the seconds
from the end of the fault (the broker restarting or reachable again, the service restarting) to
the first event that reached the broker after it.
"""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.reliability.brokers_at_fault import BACKENDS, Backend, BrokerAtFault, Deliveries, broker_at_fault
from tests.reliability.harness import LoadResult, Service, drive_load, report, sample_value

pytestmark = pytest.mark.anyio

REQUESTS = 300
LONG_LOAD = 600
CONCURRENCY = 32
SEEN_BEFORE_THE_FAULT = 150
OUTAGE = 1.0
ACCEPTED_BEFORE_THE_KILL = 150
ARRIVAL_TIMEOUT = 45.0
RELAY_LEASE = 5.0
"""Longer than the brokers' publish deadline, as the README requires; short, because after a
``kill -9`` the events the dead relay had leased wait for their lease to end."""


@pytest.fixture(params=BACKENDS)
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerAtFault]:
    backend: Backend = request.param
    async with broker_at_fault(backend, tmp_path) as broker:
        yield broker


@pytest.fixture
def service(broker: BrokerAtFault, tmp_path: Path) -> Iterator[Service]:
    lease = {"EVENTGATE_RELAY_LEASE": str(RELAY_LEASE)}
    service = Service(folder=tmp_path, environment=broker.environment | lease)
    yield service
    service.stop()


async def seen(broker: BrokerAtFault, count: int) -> None:
    with anyio.fail_after(30):
        while broker.seen() < count:
            await asyncio.sleep(0.01)


async def metric(service: Service, name: str) -> float:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        return sample_value((await client.get("/metrics")).text, name)


async def accepted(service: Service, count: int) -> None:
    with anyio.fail_after(30):
        while await metric(service, "eventgate_events_accepted_total") < count:
            await asyncio.sleep(0.05)


async def all_arrived(
    broker: BrokerAtFault,
    service: Service,
    scenario: str,
    load: LoadResult,
    restored_at: float,
    **context: object,
) -> Deliveries:
    """What arrived once every acknowledged event did and the outbox has nothing left to send, each
    event once after deduplication; its figures reported, with ``context``."""
    with anyio.fail_after(ARRIVAL_TIMEOUT):
        while not set(load.acknowledged) <= (await broker.deliveries()).ids:
            await asyncio.sleep(0.25)
        while await metric(service, "eventgate_outbox_pending_events"):
            await asyncio.sleep(0.25)
    deliveries = await broker.deliveries()
    report(
        f"{broker.name}, {scenario}",
        sent=sum(load.statuses.values()),
        unanswered=load.statuses[0],
        acknowledged=len(load.acknowledged),
        delivered=len(deliveries.ids),
        messages_at_transport=len(deliveries.transport),
        duplicated_at_transport=deliveries.duplicated_at_transport,
        duplicated_after_deduplication=deliveries.duplicated_after_deduplication,
        seconds_to_resume=deliveries.resumed_after(restored_at),
        **context,
    )
    assert await metric(service, "eventgate_outbox_dead_events") == 0, "nothing was dead-lettered"
    assert set(deliveries.transport) >= deliveries.ids, "the transport level was seen whole"
    assert deliveries.duplicated_after_deduplication == 0
    return deliveries


async def test_events_acknowledged_while_the_broker_is_down_all_arrive_once_it_is_up(
    broker: BrokerAtFault, service: Service
) -> None:
    await broker.cut_off()
    await asyncio.to_thread(service.start)

    load = await drive_load(service.url, REQUESTS)
    assert broker.seen() == 0
    restored_at = await broker.restore()
    deliveries = await all_arrived(broker, service, "down for the whole load, then up", load, restored_at)

    assert load.statuses == Counter({200: REQUESTS})
    assert deliveries.ids == set(load.acknowledged)


async def test_events_acknowledged_around_a_broker_failure_mid_load_all_arrive_once_each(
    broker: BrokerAtFault, service: Service
) -> None:
    await asyncio.to_thread(service.start)

    running = asyncio.create_task(drive_load(service.url, LONG_LOAD, concurrency=CONCURRENCY))
    await seen(broker, SEEN_BEFORE_THE_FAULT)
    assert not running.done(), "the broker fails in the middle of the load"
    await broker.cut_off()
    await asyncio.sleep(OUTAGE)
    restored_at = await broker.restore()
    load = await running
    deliveries = await all_arrived(broker, service, "failed mid-load", load, restored_at)

    assert set(load.statuses) <= {200, 0}, "the outbox answers whatever the broker does"
    assert deliveries.ids == set(load.acknowledged)


async def test_events_the_broker_stored_unanswered_before_a_kill_9_are_sent_again_and_arrive_once_each(
    broker: BrokerAtFault, service: Service
) -> None:
    await asyncio.to_thread(service.start)
    await asyncio.to_thread(broker.proxy.lose_answers)

    running = asyncio.create_task(drive_load(service.url, LONG_LOAD, concurrency=CONCURRENCY))
    await accepted(service, ACCEPTED_BEFORE_THE_KILL)
    await seen(broker, 1)
    assert not running.done(), "the service is killed in the middle of the load"
    await asyncio.to_thread(service.kill)
    stored_unanswered = len((await broker.deliveries()).ids)
    load = await running
    await asyncio.to_thread(broker.proxy.forward)
    restored_at = time.time()
    await asyncio.to_thread(service.start)
    deliveries = await all_arrived(
        broker,
        service,
        "eventgate killed with -9 mid-load, the broker's answers lost",
        load,
        restored_at,
        stored_unanswered=stored_unanswered,
        relay_lease=RELAY_LEASE,
    )

    assert load.statuses[0], "some requests met the killed service"
    assert deliveries.ids >= set(load.acknowledged)
    assert deliveries.duplicated_at_transport >= stored_unanswered, "what was stored is sent again"
