"""The RabbitMQ bus against the shared broker, through a fault proxy: start-up errors, secrets, and
publishes the network breaks (refused, stalled, cut while a load goes through)."""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiormq
import pytest
from aiormq.abc import DeliveredMessage
from pamqp.common import FieldTable

from adapters.event_json import as_encoded, encode_event
from adapters.rabbitmq_bus import RabbitmqConfigError, RabbitmqSettings, open_rabbitmq_bus
from adapters.secret import Secret
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
from domain.event import UserEvent
from tests.brokers import (
    RABBITMQ_HOST,
    RABBITMQ_PORT,
    RABBITMQ_URL,
    delete_rabbitmq,
    rabbitmq_account,
    rabbitmqctl,
    unique_name,
)
from tests.faults.delivery import Figures, acknowledged_at_least, deliver, make_load
from tests.faults.tcp_proxy import TcpFaultProxy

pytestmark = pytest.mark.anyio
logger = logging.getLogger(__name__)

DEADLINE = 1.5
CONSUME_TIMEOUT = 10.0
"""How long reading a queue waits for its next message: a quorum queue of 20,000 hands them out at a
rate that depends on how busy the machine is, so the whole read has no limit while messages come."""


@pytest.fixture
def proxy() -> Iterator[TcpFaultProxy]:
    with TcpFaultProxy(RABBITMQ_HOST, RABBITMQ_PORT) as faults:
        yield faults


@pytest.fixture
async def name() -> AsyncIterator[str]:
    name = unique_name("rabbitmq-test")
    yield name
    await delete_rabbitmq(name, name)


def settings_for(
    proxy: TcpFaultProxy, name: str, userinfo: str = "guest:guest", queue: str | None = None
) -> RabbitmqSettings:
    return RabbitmqSettings(
        url=Secret(f"amqp://{userinfo}@127.0.0.1:{proxy.port}/"),
        exchange=name,
        queue=name if queue is None else queue,
        publish_deadline=DEADLINE,
        connect_timeout=0.5,
    )


async def queued(queue: str) -> list[DeliveredMessage]:
    """Every message in the queue, in order, taken by a consumer (one ``basic.get`` each is slow)."""
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        count = (await channel.queue_declare(queue, passive=True)).message_count
        messages: list[DeliveredMessage] = []
        if not count:
            return messages
        all_taken = asyncio.get_running_loop().create_future()

        async def take(message: DeliveredMessage) -> None:
            messages.append(message)
            if len(messages) == count:
                all_taken.set_result(None)

        await channel.basic_consume(queue, take, no_ack=True)
        while not all_taken.done():
            taken = len(messages)
            await asyncio.wait({all_taken}, timeout=CONSUME_TIMEOUT)
            if len(messages) == taken and not all_taken.done():
                raise TimeoutError(
                    f"{count - taken} of {count} messages stopped coming for {CONSUME_TIMEOUT} s"
                )
        return messages


async def queued_ids(queue: str) -> list[str]:
    return [str(message.header.properties.message_id) for message in await queued(queue)]


async def test_an_event_larger_than_a_frame_reaches_the_queue_whole(proxy: TcpFaultProxy, name: str) -> None:
    [small] = make_load(1)
    big = UserEvent(name="app/big", data={"pad": "é" * 200_000}, id=small.id, ts=small.ts)
    events = [big, *make_load(2)]

    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        assert await bus.publish(events) == [event.id for event in events]

    assert [message.body for message in await queued(name)] == [encode_event(event) for event in events]


async def test_only_the_unroutable_events_of_a_batch_are_refused(proxy: TcpFaultProxy, name: str) -> None:
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        await channel.exchange_declare(name, exchange_type="topic", durable=True)
        await channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        await channel.queue_bind(name, name, routing_key="routed")
    events = [*make_load(2, name="routed"), *make_load(1, name="lost"), *make_load(2, name="routed")]
    routed = [event.id for event in events if event.name == "routed"]

    async with open_rabbitmq_bus(settings_for(proxy, name, queue="")) as bus:
        with pytest.raises(EventRejected, match="unroutable") as failure:
            await bus.publish(events)

    assert "'lost'" in failure.value.reason
    assert list(failure.value.accepted_ids) == routed
    assert await queued_ids(name) == routed


async def test_nacked_events_are_not_published_and_the_confirmed_ones_are(
    proxy: TcpFaultProxy, name: str
) -> None:
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        await channel.exchange_declare(name, exchange_type="topic", durable=True)
        # A classic queue nacks exactly the messages past its length; a quorum queue only once it is over.
        full_at_two: FieldTable = {"x-max-length": 2, "x-overflow": "reject-publish"}
        await channel.queue_declare(name, durable=True, arguments=full_at_two)
        await channel.queue_bind(name, name, routing_key="#")
    events = make_load(5)

    async with open_rabbitmq_bus(settings_for(proxy, name, queue="")) as bus:
        with pytest.raises(EventBusUnavailable, match=r"did not confirm 3 of 5 events.*nacked") as failure:
            await bus.publish(events)

    assert list(failure.value.accepted_ids) == [event.id for event in events[:2]]
    assert await queued_ids(name) == [event.id for event in events[:2]]


async def test_a_name_too_long_for_a_routing_key_refuses_the_batch_before_anything_is_sent(
    proxy: TcpFaultProxy, name: str
) -> None:
    [fine] = make_load(1)
    [long] = make_load(1, name="é" * 128)

    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        with pytest.raises(EventRejected, match="256 bytes in UTF-8, and a RabbitMQ routing key"):
            await bus.publish([fine, long])

    assert await queued_ids(name) == []


async def test_an_exchange_deleted_under_the_bus_is_declared_again(proxy: TcpFaultProxy, name: str) -> None:
    events = make_load(3)
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        await bus.publish(make_load(1))
        await delete_rabbitmq(name, "")

        assert await bus.publish(events) == [event.id for event in events]

    assert (await queued_ids(name))[-3:] == [event.id for event in events]


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
    events = make_load(20_000)
    async with open_rabbitmq_bus(settings_for(proxy, name)) as bus:
        progress = Figures(events=len(events))
        delivery = asyncio.create_task(deliver(bus, events, batch=1000, time_limit=40, figures=progress))
        for share in (0.2, 0.4, 0.6):
            async with asyncio.timeout(30):
                await acknowledged_at_least(progress, int(share * len(events)))
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


@pytest.mark.parametrize(
    ("permissions", "wrong_password", "cause", "broker_said"),
    [
        ((".*", ".*", ".*"), True, "credentials rejected", "ACCESS_REFUSED - Login was refused"),
        (None, False, "permission denied", "Connection.Close"),
        (("^$", "^$", "^$"), False, "permission denied", "ACCESS_REFUSED - access to exchange"),
    ],
    ids=["wrong-password", "no-access-to-the-vhost", "no-right-to-declare"],
)
async def test_a_broker_refusing_eventgate_at_connection_is_a_refusal_named_by_the_probe(
    name: str,
    permissions: tuple[str, str, str] | None,
    wrong_password: bool,
    cause: str,
    broker_said: str,
) -> None:
    with rabbitmq_account(permissions) as account:
        password = "wr0ng-s3cr3t" if wrong_password else account.password
        url = f"amqp://{account.user}:{password}@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{account.vhost}"
        settings = RabbitmqSettings(
            url=Secret(url), exchange=name, queue=name, publish_deadline=5.0, connect_timeout=0.5
        )
        async with open_rabbitmq_bus(settings) as bus:
            reason = await bus.probe()
            started = time.monotonic()
            with pytest.raises(SenderRefused) as refused:
                await bus.publish([make_load(1, name="app/refused")[0]])
            took = time.monotonic() - started

    assert reason is not None
    assert reason.startswith(f"{cause} — check ")
    assert broker_said in reason
    assert refused.value.cause == cause
    assert refused.value.accepted_ids == ()
    assert took < 2.0, "a refusal does not wait for the publish deadline"
    assert "wr0ng-s3cr3t" not in reason + refused.value.reason


async def test_an_exchange_the_user_may_not_write_to_refuses_eventgate_not_the_events(name: str) -> None:
    queue = f"{name}-queue"
    with rabbitmq_account((".*", f"^{queue}$", ".*")) as account:  # may bind its queue, not publish
        settings = RabbitmqSettings(
            url=Secret(account.url()), exchange=name, queue=queue, publish_deadline=5.0, connect_timeout=0.5
        )
        async with open_rabbitmq_bus(settings) as bus:
            assert await bus.probe() is None
            started = time.monotonic()
            with pytest.raises(SenderRefused) as refused:
                await bus.publish_encoded([as_encoded(make_load(1, name="app/refused")[0])])
            took = time.monotonic() - started
        rabbitmqctl("set_permissions", "-p", account.vhost, account.user, ".*", ".*", ".*")
        async with open_rabbitmq_bus(settings) as bus:
            event = make_load(1, name="app/allowed")[0]
            assert await bus.publish([event]) == [event.id]

    assert refused.value.cause == "permission denied"
    assert f"403 ACCESS_REFUSED - access to exchange '{name}'" in refused.value.reason
    assert took < 2.0
