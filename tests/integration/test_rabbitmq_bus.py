"""The RabbitMQ bus against the shared broker, through a fault proxy: start-up errors, secrets, and
publishes the network breaks (refused, stalled, cut while a load goes through)."""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiormq
import pytest

from adapters.rabbitmq_bus import RabbitmqConfigError, RabbitmqSettings, open_rabbitmq_bus
from adapters.secret import Secret
from domain.errors import EventBusUnavailable
from tests.brokers import RABBITMQ_HOST, RABBITMQ_PORT, RABBITMQ_URL, delete_rabbitmq, unique_name
from tests.faults.delivery import deliver, make_load
from tests.faults.tcp_proxy import TcpFaultProxy

pytestmark = pytest.mark.anyio
logger = logging.getLogger(__name__)

DEADLINE = 1.5


@pytest.fixture
def proxy() -> Iterator[TcpFaultProxy]:
    with TcpFaultProxy(RABBITMQ_HOST, RABBITMQ_PORT) as faults:
        yield faults


@pytest.fixture
async def name() -> AsyncIterator[str]:
    name = unique_name("rabbitmq-test")
    yield name
    await delete_rabbitmq(name, name)


def settings_for(proxy: TcpFaultProxy, name: str, userinfo: str = "guest:guest") -> RabbitmqSettings:
    return RabbitmqSettings(
        url=Secret(f"amqp://{userinfo}@127.0.0.1:{proxy.port}/"),
        exchange=name,
        queue=name,
        publish_deadline=DEADLINE,
        connect_timeout=0.5,
    )


async def queued_ids(queue: str) -> list[str]:
    ids = []
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        while (message := await channel.basic_get(queue, no_ack=True)).delivery_tag is not None:
            ids.append(str(message.header.properties.message_id))
    return ids


async def test_refuses_to_start_on_a_queue_that_is_not_a_quorum_queue(
    proxy: TcpFaultProxy, name: str
) -> None:
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        await channel.queue_declare(name, durable=True)

    with pytest.raises(RabbitmqConfigError, match="quorum queue"):
        async with open_rabbitmq_bus(settings_for(proxy, name)):
            pass


async def test_never_logs_the_password(
    proxy: TcpFaultProxy, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(proxy, name, userinfo="guest:pa55-s3cr3t")

    async with open_rabbitmq_bus(settings) as bus:
        reason = await bus.probe()
        with pytest.raises(EventBusUnavailable) as failure:
            await bus.publish(make_load(1))

    assert reason is not None
    said = caplog.text + reason + failure.value.reason + repr(settings)
    assert "pa55-s3cr3t" not in said


async def test_a_stalled_broker_is_unavailable_within_the_deadline_and_then_recovers(
    proxy: TcpFaultProxy, name: str
) -> None:
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        await bus.publish(make_load(1))
        proxy.black_hole()
        started = time.monotonic()

        with pytest.raises(EventBusUnavailable) as failure:
            await bus.publish(make_load(100))

        assert time.monotonic() - started < DEADLINE + 1.0
        proxy.forward()
        events = make_load(10)
        assert await bus.publish(events) == [event.id for event in events]

    queued = Counter(await queued_ids(name))
    assert set(failure.value.accepted_ids) <= set(queued)
    assert all(queued[event.id] == 1 for event in events)


async def test_a_connection_cut_mid_publish_counts_only_what_was_confirmed(
    proxy: TcpFaultProxy, name: str
) -> None:
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        await bus.publish(make_load(1))
        proxy.refuse()
        started = time.monotonic()

        with pytest.raises(EventBusUnavailable, match=r"unreachable|did not confirm") as failure:
            await bus.publish(make_load(500))

        assert time.monotonic() - started < DEADLINE + 1.0
        proxy.forward()

    assert set(failure.value.accepted_ids) <= set(await queued_ids(name))


async def test_connections_cut_during_a_load_lose_no_confirmed_event(proxy: TcpFaultProxy, name: str) -> None:
    events = make_load(5_000)
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        delivery = asyncio.create_task(deliver(bus, events, batch=1000, time_limit=40))
        for _ in range(3):
            await asyncio.sleep(0.15)
            assert not delivery.done()
            proxy.cut()
        figures = await delivery
    queued = await queued_ids(name)

    logger.info("RabbitMQ cut three times: %s", figures.summary(queued))
    assert sorted(figures.acknowledged) == sorted(event.id for event in events)
    assert set(queued) == set(figures.acknowledged)


async def test_a_broker_unreachable_for_the_whole_load_then_back_gets_every_event(
    proxy: TcpFaultProxy, name: str
) -> None:
    events = make_load(3_000)
    proxy.refuse()
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        delivery = asyncio.create_task(deliver(bus, events, batch=1000, time_limit=30))
        await asyncio.sleep(DEADLINE + 0.5)
        proxy.forward()
        figures = await delivery
    queued = await queued_ids(name)

    logger.info("RabbitMQ unreachable, then back: %s", figures.summary(queued))
    assert figures.failures
    assert sorted(figures.acknowledged) == sorted(event.id for event in events)
    assert set(queued) == set(figures.acknowledged)
