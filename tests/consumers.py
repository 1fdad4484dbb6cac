"""Reading what reached a broker as its consumers do, with the wall-clock time each event got there.

- ``read_stream``: every message a JetStream stream holds, through a pull consumer, each with the
  time the stream stored it (JetStream's own timestamp);
- ``NatsTap``: a core NATS subscriber to the stream's subjects. It sees every message published
  while it is connected, those the stream then drops as duplicates included: the transport level;
- ``QueueConsumer``: a consumer of a RabbitMQ queue, noting each message as it arrives. The broker
  does not deduplicate, so what it reads is the transport level too.
"""

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType

import aiormq
import aiormq.abc
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from adapters.nats_bus.frames import MSG_ID
from tests.brokers import RABBITMQ_URL

FETCH_BATCH = 1000
FETCH_TIMEOUT = 5.0
TAP_RECONNECT_WAIT = 0.02
"""Seconds between the tap's attempts to reconnect."""


@dataclass(frozen=True, slots=True)
class Arrival:
    event_id: str
    at: float
    """Wall-clock seconds (``time.time()``) when the broker stored it, or the consumer received it."""


async def read_stream(url: str, stream: str, subjects: str) -> list[Arrival]:
    """Every message of ``stream`` (none when it does not exist yet), in stream order.

    The consumer acknowledges nothing: with acknowledgements, it would stop at its limit of pending
    ones.
    """
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        try:
            count = (await js.stream_info(stream)).state.messages
        except NotFoundError:
            return []
        reading = ConsumerConfig(ack_policy=AckPolicy.NONE)
        subscription = await js.pull_subscribe(subjects, stream=stream, config=reading)
        arrivals: list[Arrival] = []
        while len(arrivals) < count:
            for message in await subscription.fetch(min(count - len(arrivals), FETCH_BATCH), FETCH_TIMEOUT):
                headers = message.headers or {}
                arrivals.append(Arrival(headers[MSG_ID], message.metadata.timestamp.timestamp()))
        await subscription.unsubscribe()
        return arrivals
    finally:
        await client.close()


class NatsTap:
    """A core subscriber to ``subjects`` that reconnects by itself; ``ids`` as they were seen."""

    def __init__(self, url: str, subjects: str) -> None:
        self._url = url
        self._subjects = subjects
        self._client: Client | None = None
        self.ids: list[str] = []

    async def __aenter__(self) -> "NatsTap":
        self._client = await nats.connect(
            self._url,
            reconnect_time_wait=TAP_RECONNECT_WAIT,
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
        )
        await self._client.subscribe(self._subjects, cb=self._on_message)
        await self._client.flush()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()

    async def connected(self) -> None:
        """Return once the tap is connected and the server has its subscription."""
        assert self._client is not None
        while not self._client.is_connected:
            await asyncio.sleep(TAP_RECONNECT_WAIT)
        await self._client.flush()

    async def _on_message(self, message: Msg) -> None:
        self.ids.append((message.headers or {})[MSG_ID])

    async def _on_error(self, error: Exception) -> None:
        """The server being killed is what the tests do: reconnecting is all there is to it."""


class QueueConsumer:
    """Consumes ``queue`` on the shared RabbitMQ, acknowledging on receipt; ``arrivals`` in order."""

    def __init__(self, queue: str) -> None:
        self._queue = queue
        self._connection: aiormq.abc.AbstractConnection | None = None
        self.arrivals: list[Arrival] = []

    async def __aenter__(self) -> "QueueConsumer":
        self._connection = await aiormq.connect(RABBITMQ_URL)
        channel = await self._connection.channel()
        await channel.basic_consume(self._queue, self._on_message, no_ack=True)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: aiormq.abc.DeliveredMessage) -> None:
        self.arrivals.append(Arrival(str(message.header.properties.message_id), time.time()))
