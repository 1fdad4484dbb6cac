"""The brokers the service may send to, each with a way to fail it and a consumer that reads it back.

- NATS: a private ``nats-server -js``. Failing it is ``kill -9``; restoring it, a restart on the
  same port and store. What arrived is what the stream holds, read through a pull consumer, after
  JetStream dropped the repeated ``Nats-Msg-Id``; a ``NatsTap`` sees what reached the server before.
  The service reaches the server through a ``TcpFaultProxy`` that refuses it while the server is
  down and until the tap is back, so that the tap sees everything the service sends again.
- RabbitMQ: the shared broker, which the service reaches through a ``TcpFaultProxy``. Failing it
  resets every connection through the proxy and refuses new ones; restoring it forwards again. A
  ``QueueConsumer`` connected straight to the broker reads the test's own quorum queue; what arrived
  is what it read, deduplicated by ``message_id`` as the README asks consumers to.

The service is configured with publish deadlines shorter than the harness's relay lease, as the
README requires.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from tests.brokers import (
    RABBITMQ_HOST,
    RABBITMQ_PORT,
    NatsServer,
    declare_rabbitmq,
    delete_rabbitmq,
    unique_name,
)
from tests.consumers import Arrival, NatsTap, QueueConsumer, read_stream
from tests.faults.tcp_proxy import TcpFaultProxy

Backend = Literal["nats", "rabbitmq"]
BACKENDS: tuple[Backend, ...] = ("nats", "rabbitmq")
PUBLISH_DEADLINE = "2"
CONNECT_TIMEOUT = "1"
NATS_STREAM, NATS_SUBJECTS = "EVENTGATE", "eventgate.>"


@dataclass(frozen=True, slots=True)
class Deliveries:
    transport: list[str]
    """The id of every message seen on its way in, duplicates included."""
    consumed: list[Arrival]
    """What a consumer reads once the broker or the consumer itself deduplicated."""

    @property
    def ids(self) -> set[str]:
        return {arrival.event_id for arrival in self.consumed}

    @property
    def duplicated_at_transport(self) -> int:
        return len(self.transport) - len(set(self.transport))

    @property
    def duplicated_after_deduplication(self) -> int:
        return len(self.consumed) - len(self.ids)

    def resumed_after(self, since: float) -> float | None:
        """Seconds from ``since`` (wall clock) to the first event that arrived after it."""
        later = [arrival.at for arrival in self.consumed if arrival.at >= since]
        return round(min(later) - since, 2) if later else None


class BrokerAtFault(Protocol):
    @property
    def name(self) -> Backend: ...

    @property
    def environment(self) -> dict[str, str]:
        """What ``eventgate serve`` needs to send here."""

    @property
    def proxy(self) -> TcpFaultProxy:
        """What the service reaches the broker through."""

    def seen(self) -> int:
        """How many messages reached the broker so far."""

    async def cut_off(self) -> None: ...

    async def restore(self) -> float:
        """Bring the broker back; return the wall-clock time at which that began."""

    async def deliveries(self) -> Deliveries: ...


class NatsAtFault:
    name: Backend = "nats"

    def __init__(self, server: NatsServer, proxy: TcpFaultProxy, tap: NatsTap) -> None:
        self._server = server
        self.proxy = proxy
        self._tap = tap

    @property
    def environment(self) -> dict[str, str]:
        return {
            "EVENTGATE_EVENT_BUS": "nats",
            "EVENTGATE_NATS_URL": f"nats://127.0.0.1:{self.proxy.port}",
            "EVENTGATE_NATS_STREAM": NATS_STREAM,
            "EVENTGATE_NATS_PUBLISH_DEADLINE": PUBLISH_DEADLINE,
            "EVENTGATE_NATS_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
        }

    def seen(self) -> int:
        return len(self._tap.ids)

    async def cut_off(self) -> None:
        await asyncio.to_thread(self._server.kill)
        await asyncio.to_thread(self.proxy.refuse)

    async def restore(self) -> float:
        began = time.time()
        await asyncio.to_thread(self._server.start)
        await self._tap.connected()
        await asyncio.to_thread(self.proxy.forward)
        return began

    async def deliveries(self) -> Deliveries:
        stored = await read_stream(self._server.url, NATS_STREAM, NATS_SUBJECTS)
        return Deliveries(transport=list(self._tap.ids), consumed=stored)


class RabbitmqAtFault:
    name: Backend = "rabbitmq"

    def __init__(self, proxy: TcpFaultProxy, consumer: QueueConsumer, exchange_and_queue: str) -> None:
        self.proxy = proxy
        self._consumer = consumer
        self._name = exchange_and_queue

    @property
    def environment(self) -> dict[str, str]:
        return {
            "EVENTGATE_EVENT_BUS": "rabbitmq",
            "EVENTGATE_RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{self.proxy.port}/",
            "EVENTGATE_RABBITMQ_EXCHANGE": self._name,
            "EVENTGATE_RABBITMQ_QUEUE": self._name,
            "EVENTGATE_RABBITMQ_PUBLISH_DEADLINE": PUBLISH_DEADLINE,
            "EVENTGATE_RABBITMQ_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
        }

    def seen(self) -> int:
        return len(self._consumer.arrivals)

    async def cut_off(self) -> None:
        await asyncio.to_thread(self.proxy.refuse)

    async def restore(self) -> float:
        began = time.time()
        await asyncio.to_thread(self.proxy.forward)
        return began

    async def deliveries(self) -> Deliveries:
        arrivals = list(self._consumer.arrivals)
        first: dict[str, Arrival] = {}
        for arrival in arrivals:
            first.setdefault(arrival.event_id, arrival)
        return Deliveries(transport=[arrival.event_id for arrival in arrivals], consumed=list(first.values()))


@asynccontextmanager
async def broker_at_fault(backend: Backend, folder: Path) -> AsyncIterator[BrokerAtFault]:
    """The broker, up, with its consumer reading; everything of the test's removed afterwards."""
    if backend == "nats":
        server = NatsServer(folder)
        await asyncio.to_thread(server.start)
        try:
            with TcpFaultProxy("127.0.0.1", server.port) as proxy:
                async with NatsTap(server.url, NATS_SUBJECTS) as tap:
                    yield NatsAtFault(server, proxy, tap)
        finally:
            server.stop()
        return
    name = unique_name("faults")
    await declare_rabbitmq(name, name)
    try:
        with TcpFaultProxy(RABBITMQ_HOST, RABBITMQ_PORT) as proxy:
            async with QueueConsumer(name) as consumer:
                yield RabbitmqAtFault(proxy, consumer, name)
    finally:
        await delete_rabbitmq(name, name)
