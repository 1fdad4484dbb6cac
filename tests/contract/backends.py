"""Each event bus under the contract, with what the contract needs around it.

A backend gives the bus, what a real consumer of the bus reads (``consume``), a way to make the bus
unreachable and reachable again, a way to make it refuse the next event, and, when the server asks
for credentials, the same bus opened with credentials it rejects. The network backends
reach their server through a ``TcpFaultProxy``, which is how they are made unreachable.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import aiormq
import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from adapters.inngest import (
    HttpClientSettings,
    InngestEventBus,
    RetryPolicy,
    open_http_client,
)
from adapters.memory import InMemoryEventBus
from adapters.nats_bus import NatsSettings, open_nats_bus, subject_token
from adapters.rabbitmq_bus import RabbitmqSettings, open_rabbitmq_bus
from adapters.secret import Secret
from application.ports import DeliveryBus
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent
from tests.brokers import RABBITMQ_HOST, RABBITMQ_PORT, RABBITMQ_URL, NatsServer, delete_rabbitmq, unique_name
from tests.containers import inngest_endpoint_from
from tests.faults.tcp_proxy import TcpFaultProxy
from tests.integration.inngest_stand_in import EventApiStandIn, RecordedRequest, Reply

DEADLINE = 1.5
CONTRACT_KEY = "contract-key"
CONTRACT_TOKEN = "contract-t0ken"
"""The publish deadline of every bus under the contract, in seconds."""

Deduplication = Literal["broker", "consumer"]


@dataclass(frozen=True, slots=True)
class Consumed:
    """One message as a consumer reads it: its body's bytes, and what else identifies it."""

    body: bytes
    message_id: str | None
    content_type: str | None
    address: str | None = None
    """The subject (NATS) or routing key (RabbitMQ) it came on."""
    properties: dict[str, object] = field(default_factory=dict)


class Backend(Protocol):
    name: str
    bus: DeliveryBus
    deduplication: Deduplication
    shows_deduplication: bool
    """Whether ``consume`` reads where the broker deduplicates (a stand-in may not model it)."""

    def address_of(self, event: UserEvent) -> str | None: ...

    async def consume(self) -> list[Consumed]: ...

    def go_away(self) -> None: ...

    def come_back(self) -> None: ...

    async def refuse_next(self, event: UserEvent) -> tuple[UserEvent, str]:
        """Arrange for the bus to refuse the event returned; the words its reason must hold."""
        ...

    def with_wrong_credentials(self) -> AbstractAsyncContextManager[DeliveryBus] | None:
        """The same bus opened with credentials its server rejects; ``None`` when it takes none."""
        ...


class MemoryBackend:
    name = "memory"
    deduplication: Deduplication = "consumer"
    shows_deduplication = True

    def __init__(self) -> None:
        self.memory = InMemoryEventBus()
        self.bus: DeliveryBus = self.memory

    def address_of(self, event: UserEvent) -> str | None:
        return None

    async def consume(self) -> list[Consumed]:
        return [Consumed(event.body, event.id, "application/json") for event in self.memory.published_encoded]

    def go_away(self) -> None:
        self.memory.fail_always(EventBusUnavailable("the memory bus was told to be away"))

    def come_back(self) -> None:
        self.memory.fail_always(None)

    async def refuse_next(self, event: UserEvent) -> tuple[UserEvent, str]:
        self.memory.fail_next(EventRejected("the memory bus was told to refuse it"))
        return event, "told to refuse"

    def with_wrong_credentials(self) -> AbstractAsyncContextManager[DeliveryBus] | None:
        return None


class InngestBackend:
    """Inngest's event API as the loopback stand-in plays it. The stand-in acknowledges every event it
    gets and keeps them all: it does not model Inngest's deduplication by id."""

    name = "inngest"
    deduplication: Deduplication = "broker"
    shows_deduplication = False

    def __init__(self, stand_in: EventApiStandIn, proxy: TcpFaultProxy, bus: InngestEventBus) -> None:
        self.stand_in = stand_in
        self.proxy = proxy
        self.bus: DeliveryBus = bus

    def address_of(self, event: UserEvent) -> str | None:
        return None

    async def consume(self) -> list[Consumed]:
        consumed = []
        for request in self.stand_in.requests:
            if request.method != "POST" or not has_the_contract_key(request):
                continue
            for raw in msgspec.json.decode(request.body, type=list[msgspec.Raw]):
                event_id = msgspec.json.decode(raw, type=dict[str, object])["id"]
                consumed.append(Consumed(bytes(raw), str(event_id), request.headers.get("content-type")))
        return consumed

    def go_away(self) -> None:
        self.proxy.refuse()

    def come_back(self) -> None:
        self.proxy.forward()

    async def refuse_next(self, event: UserEvent) -> tuple[UserEvent, str]:
        error = b'{"ids":[""],"status":400,"error":"event name is not allowed here"}'
        self.stand_in.script(Reply(400, error))
        return event, "event name is not allowed here"

    def with_wrong_credentials(self) -> AbstractAsyncContextManager[DeliveryBus] | None:
        return inngest_bus(self.proxy.port, "a-wrong-key")


class NatsBackend:
    name = "nats"
    deduplication: Deduplication = "broker"
    shows_deduplication = True

    def __init__(
        self, server: NatsServer, proxy: TcpFaultProxy, settings: NatsSettings, bus: DeliveryBus
    ) -> None:
        self.server = server
        self.proxy = proxy
        self.settings = settings
        self.bus = bus

    def address_of(self, event: UserEvent) -> str | None:
        return f"{self.settings.subject_prefix}.{subject_token(event.name)}"

    async def consume(self) -> list[Consumed]:
        """Every message of the stream, read by a pull consumer of its own, from the first."""
        client = await nats.connect(self.server.url, token=CONTRACT_TOKEN)
        try:
            js = client.jetstream()
            count = (await js.stream_info(self.settings.stream)).state.messages
            if not count:
                return []
            subscription = await js.pull_subscribe(
                f"{self.settings.subject_prefix}.>",
                durable=unique_name("reader"),
                stream=self.settings.stream,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT),
            )
            consumed: list[Consumed] = []
            while len(consumed) < count:
                for message in await subscription.fetch(min(count - len(consumed), 1000), timeout=5):
                    headers = message.headers or {}
                    consumed.append(
                        Consumed(
                            message.data,
                            headers.get("Nats-Msg-Id"),
                            headers.get("Content-Type"),
                            message.subject,
                            properties={"headers": dict(headers)},
                        )
                    )
                    await message.ack()
            return consumed
        finally:
            await client.close()

    def go_away(self) -> None:
        self.proxy.refuse()

    def come_back(self) -> None:
        self.proxy.forward()

    async def refuse_next(self, event: UserEvent) -> tuple[UserEvent, str]:
        big = UserEvent(name=event.name, data={"pad": "x" * 70_000}, id=event.id, ts=event.ts)
        return big, "max_payload"

    def with_wrong_credentials(self) -> AbstractAsyncContextManager[DeliveryBus] | None:
        return open_nats_bus(msgspec.structs.replace(self.settings, token=Secret("a-wrong-t0ken")))


class RabbitmqBackend:
    """RabbitMQ does not deduplicate: consumers do, by ``message_id``."""

    name = "rabbitmq"
    deduplication: Deduplication = "consumer"
    shows_deduplication = True

    def __init__(self, proxy: TcpFaultProxy, settings: RabbitmqSettings, bus: DeliveryBus) -> None:
        self.proxy = proxy
        self.settings = settings
        self.bus = bus

    def address_of(self, event: UserEvent) -> str | None:
        return event.name

    async def consume(self) -> list[Consumed]:
        """Every message in the queue, taken by a consumer on a connection of its own."""
        consumed: list[Consumed] = []
        async with aiormq.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            while True:
                message = await channel.basic_get(self.settings.queue, no_ack=True)
                if message.delivery_tag is None:
                    return consumed
                properties = message.header.properties
                consumed.append(
                    Consumed(
                        message.body,
                        properties.message_id,
                        properties.content_type,
                        message.routing_key,
                        properties={
                            "delivery_mode": properties.delivery_mode,
                            "timestamp": properties.timestamp,
                            "exchange": message.exchange,
                        },
                    )
                )

    def go_away(self) -> None:
        self.proxy.refuse()

    def come_back(self) -> None:
        self.proxy.forward()

    async def refuse_next(self, event: UserEvent) -> tuple[UserEvent, str]:
        """Unbind the queue, so that nothing takes the event: the broker returns it as unroutable."""
        async with aiormq.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            await channel.queue_unbind(self.settings.queue, self.settings.exchange, routing_key="#")
        return event, "unroutable"

    def with_wrong_credentials(self) -> AbstractAsyncContextManager[DeliveryBus] | None:
        url = self.settings.url.reveal().replace("guest:guest@", "guest:a-wrong-password@")
        return open_rabbitmq_bus(msgspec.structs.replace(self.settings, url=Secret(url)))


@contextlib.asynccontextmanager
async def memory_backend(_: Path) -> AsyncIterator[Backend]:
    yield MemoryBackend()


def has_the_contract_key(request: RecordedRequest) -> bool:
    return request.path.rstrip("/").endswith(f"/e/{CONTRACT_KEY}")


def event_api(request: RecordedRequest) -> Reply:
    """Acknowledge what comes with the contract's event key; answer any other key as Inngest does."""
    if request.method != "POST" or has_the_contract_key(request):
        return Reply()
    return Reply(401, b'{"error":"Event key not found","status":401}')


@contextlib.asynccontextmanager
async def inngest_bus(port: int, key: str) -> AsyncIterator[InngestEventBus]:
    endpoint = inngest_endpoint_from(
        {"INNGEST_EVENT_KEY": key, "INNGEST_BASE_URL": f"http://127.0.0.1:{port}"}
    )
    http = HttpClientSettings(connect_timeout=0.5, read_timeout=DEADLINE)
    async with open_http_client(http) as client:
        yield InngestEventBus(client, endpoint, retry=RetryPolicy(deadline=DEADLINE))


@contextlib.asynccontextmanager
async def inngest_backend(_: Path) -> AsyncIterator[Backend]:
    with (
        EventApiStandIn(policy=event_api) as stand_in,
        TcpFaultProxy("127.0.0.1", int(stand_in.url.rsplit(":", 1)[1])) as proxy,
    ):
        async with inngest_bus(proxy.port, CONTRACT_KEY) as bus:
            yield InngestBackend(stand_in, proxy, bus)


@contextlib.asynccontextmanager
async def nats_backend(folder: Path) -> AsyncIterator[Backend]:
    server = NatsServer(folder, max_payload=64 * 1024, token=CONTRACT_TOKEN)
    server.start()
    try:
        with TcpFaultProxy("127.0.0.1", server.port) as proxy:
            settings = NatsSettings(
                url=Secret(f"nats://127.0.0.1:{proxy.port}"),
                stream=unique_name("CONTRACT"),
                subject_prefix="contract",
                publish_deadline=DEADLINE,
                connect_timeout=0.5,
                token=Secret(CONTRACT_TOKEN),
            )
            async with open_nats_bus(settings) as bus:
                yield NatsBackend(server, proxy, settings, bus)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def rabbitmq_backend(_: Path) -> AsyncIterator[Backend]:
    name = unique_name("contract")
    with TcpFaultProxy(RABBITMQ_HOST, RABBITMQ_PORT) as proxy:
        settings = RabbitmqSettings(
            url=Secret(f"amqp://guest:guest@127.0.0.1:{proxy.port}/"),
            exchange=name,
            queue=name,
            publish_deadline=DEADLINE,
            connect_timeout=0.5,
        )
        try:
            async with open_rabbitmq_bus(settings) as bus:
                yield RabbitmqBackend(proxy, settings, bus)
        finally:
            await delete_rabbitmq(name, name)


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Backend]]] = {
    "memory": memory_backend,
    "inngest": inngest_backend,
    "nats": nats_backend,
    "rabbitmq": rabbitmq_backend,
}
