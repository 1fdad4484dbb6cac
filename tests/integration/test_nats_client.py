"""The NATS client the bus publishes with, against a private nats-server: frames written as one
command, and a subscription's messages handed over directly or through nats-py's callback."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.msg import Msg

from adapters.nats_bus.client import BatchingClient
from adapters.nats_bus.frames import encode_publishes
from tests.brokers import NatsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(server: NatsServer) -> AsyncIterator[BatchingClient]:
    client = BatchingClient()
    await client.connect(server.url)
    yield client
    await client.close()


async def test_frames_written_at_once_reach_a_subscriber_as_published(
    server: NatsServer, client: BatchingClient
) -> None:
    reader = await nats.connect(server.url)
    received = await reader.subscribe("app.>")
    await reader.flush()
    batch = [(f"app.n{n}", f'{{"n":{n}}}'.encode(), f"id-{n}") for n in range(500)]

    await client.write(encode_publishes(batch, "answers."))

    for position, (subject, body, message_id) in enumerate(batch):
        msg = await received.next_msg(timeout=5)
        assert (msg.subject, msg.data, msg.reply) == (subject, body, f"answers.{position}")
        assert msg.headers == {"Nats-Msg-Id": message_id, "Content-Type": "application/json"}
    await reader.close()


async def test_hands_a_direct_subscriptions_plain_messages_to_its_handler_and_the_rest_to_callbacks(
    server: NatsServer, client: BatchingClient
) -> None:
    direct: list[tuple[bytes, bytes]] = []
    called: list[Msg] = []
    other: list[Msg] = []

    async def callback(msg: Msg) -> None:
        called.append(msg)

    async def other_callback(msg: Msg) -> None:
        other.append(msg)

    subscription = await client.subscribe("answers.*", cb=callback)
    await client.subscribe("elsewhere", cb=other_callback)
    client.direct(subscription, lambda subject, body: direct.append((subject, body)))
    await client.flush()

    sender = await nats.connect(server.url)
    await sender.publish("answers.1", b"plain")
    await sender.publish("answers.2", b"with headers", headers={"Status": "503"})
    await sender.publish("elsewhere", b"not the bus's")
    await sender.flush()
    await sender.close()
    async with asyncio.timeout(5):
        while not (called and other and direct):
            await asyncio.sleep(0.01)

    assert direct == [(b"answers.1", b"plain")]
    assert [(msg.subject, msg.data) for msg in called] == [("answers.2", b"with headers")]
    assert [(msg.subject, msg.data) for msg in other] == [("elsewhere", b"not the bus's")]


async def test_a_failing_handler_does_not_stop_the_client_reading(server: NatsServer) -> None:
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    client = BatchingClient()
    await client.connect(server.url, error_cb=on_error)
    handled: list[bytes] = []

    def handler(subject: bytes, body: bytes) -> None:
        if body == b"bad":
            raise ValueError("a bad answer")
        handled.append(body)

    client.direct(await client.subscribe("answers.*"), handler)
    await client.flush()
    sender = await nats.connect(server.url)
    await sender.publish("answers.1", b"bad")
    await sender.publish("answers.2", b"good")
    await sender.flush()
    async with asyncio.timeout(5):
        while not handled:
            await asyncio.sleep(0.01)
    await sender.close()
    await client.close()

    assert handled == [b"good"]
    assert [str(error) for error in errors] == ["a bad answer"]


async def test_refuses_to_write_once_closed(client: BatchingClient) -> None:
    await client.close()

    with pytest.raises(nats.errors.ConnectionClosedError):
        await client.write(encode_publishes([("app.x", b"{}", "id")], "answers."))
