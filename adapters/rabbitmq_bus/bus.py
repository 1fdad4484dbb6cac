"""The event bus port implemented with RabbitMQ, over aiormq.

Each event is one persistent message on a durable topic exchange, its routing key the event name,
its body the event's JSON, with ``message_id`` the event id, ``timestamp`` the event's time (whole
seconds, as AMQP has it) and ``content_type`` ``application/json``. Messages go out with publisher
confirms and ``mandatory``: an event is published once the broker confirmed it and did not return
it. A message returned as unroutable is refused for good; a nacked one, or one whose confirm did
not come, is tried again until the publish deadline. The broker does not deduplicate: a message
sent again after a lost connection may reach a queue twice, with the same ``message_id``.

aiormq keeps the connection and declares; a batch goes out through a ``ConfirmingChannel``, in one
write, its confirms followed by delivery tag.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import aiormq
import aiormq.abc
from pamqp.common import FieldTable

from adapters.event_json import as_encoded
from adapters.rabbitmq_bus.channel import ChannelLost, ConfirmingChannel, describe
from adapters.rabbitmq_bus.confirms import Outcome
from adapters.rabbitmq_bus.errors import RabbitmqConfigError
from adapters.rabbitmq_bus.frames import Message
from adapters.rabbitmq_bus.redaction import REDACTED_LOGGERS, RedactCredentials, Redactor, broker_name
from adapters.rabbitmq_bus.refusals import PERMISSION_DENIED, refusal_cause, what_to_check
from adapters.rabbitmq_bus.settings import RabbitmqSettings
from application.ports import EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
from domain.event import UserEvent

logger = logging.getLogger(__name__)

MAX_SHORT_STRING_BYTES = 255
"""The most bytes of UTF-8 a routing key or a message id holds."""
PROBE_TIMEOUT = 2.0
RETRY_PAUSE = 0.25
"""Seconds between two attempts to connect, or to send again what was nacked."""
QUORUM: FieldTable = {"x-queue-type": "quorum"}


class RabbitmqEventBus:
    """A ``DeliveryBus`` on a RabbitMQ exchange; see the module's docstring.

    One connection serves every publish, with a channel that declares and probes and a confirming
    channel that publishes. When any of them closes, the next publish opens them again (declaring
    the exchange and queue again) within its deadline.
    """

    def __init__(self, settings: RabbitmqSettings) -> None:
        self._settings = settings
        self._url = settings.url.reveal()
        self._redact = Redactor(self._url)
        self._broker = broker_name(self._url)
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._publisher: ConfirmingChannel | None = None
        self._opening = asyncio.Lock()
        self._last_error = "not connected yet"
        self._log_filter = RedactCredentials(self._redact)
        self._closing: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Connect and declare; raise ``RabbitmqConfigError`` when the broker holds an exchange or queue
        of these names that is not what the bus needs. An unreachable broker is waited for later."""
        for name in REDACTED_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        loop = asyncio.get_running_loop()
        try:
            await self._open_channels(loop.time() + self._settings.connect_timeout)
        except SenderRefused:
            logger.warning("RabbitMQ (%s): %s", self._broker, self._last_error)
        except EventBusUnavailable as error:
            logger.warning("RabbitMQ is not reachable yet (%s); events wait until it is", error.reason)

    async def close(self) -> None:
        try:
            if self._connection is not None and not self._connection.is_closed:
                await self._connection.close()
        finally:
            self._connection = self._channel = self._publisher = None
            for name in REDACTED_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)

    async def probe(self) -> str | None:
        """Ready when the channels are open, or can be opened, within two seconds."""
        loop = asyncio.get_running_loop()
        try:
            channel, _ = await self._open_channels(loop.time() + PROBE_TIMEOUT)
            async with asyncio.timeout(PROBE_TIMEOUT):
                await channel.exchange_declare(self._settings.exchange, passive=True)
        except EventBusUnavailable as error:
            return error.reason
        except (TimeoutError, aiormq.AMQPError, ConnectionError) as error:
            self._forget_channel(error)
            return f"RabbitMQ ({self._broker}) does not answer ({type(error).__name__})"
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Encode the events once and publish them as ``publish_encoded`` does."""
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        """Publish the events, each one's bytes as the body of its message; return their ids, in order,
        once the broker confirmed each.

        Raises ``EventRejected`` when an event cannot be routed (nothing is sent when its name is too
        long for a routing key), ``EventBusUnavailable`` when the deadline passed first. Their
        ``accepted_ids`` list the events confirmed, in publish order.
        """
        if not events:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.publish_deadline
        messages = [self._message(event) for event in events]
        outcomes: list[Outcome | None] = [None] * len(events)
        while True:
            _, publisher = await self._open_channels(deadline, events, outcomes)
            pending = [index for index, outcome in enumerate(outcomes) if not delivered(outcome)]
            answers = await publisher.publish([messages[index] for index in pending], deadline)
            for index, answer in zip(pending, answers, strict=True):
                outcomes[index] = answer
            if denied := [outcome for outcome in outcomes if outcome is not None and outcome.denied]:
                raise self._refused(PERMISSION_DENIED, denied[0].reason, events, outcomes)
            refused = [outcome for outcome in outcomes if outcome is not None and outcome.refused]
            if refused:
                stored = self._stored(events, outcomes)
                raise EventRejected(
                    f"RabbitMQ {self._redact(refused[0].reason)}; {len(stored)} of {len(events)} events "
                    "were published",
                    accepted_ids=stored,
                )
            missing = [outcome for outcome in outcomes if not delivered(outcome)]
            if not missing:
                return [event.id for event in events]
            if loop.time() + RETRY_PAUSE >= deadline:
                if None in missing:
                    self._drop_connection()
                said = next((outcome.reason for outcome in missing if outcome is not None), None)
                stored = self._stored(events, outcomes)
                raise EventBusUnavailable(
                    f"RabbitMQ ({self._broker}) did not confirm {len(missing)} of {len(events)} events "
                    f"within {self._settings.publish_deadline:g} s: "
                    f"{self._redact(said) if said else f'no confirmation came ({self._last_error})'}",
                    accepted_ids=stored,
                )
            await asyncio.sleep(RETRY_PAUSE)

    @staticmethod
    def _message(event: EncodedEvent) -> Message:
        for what, text, holder in (("name", event.name, "routing key"), ("id", event.id, "message id")):
            size = len(text.encode("utf-8"))
            if size > MAX_SHORT_STRING_BYTES:
                raise EventRejected(
                    f"event {event.id[:64]}: its {what} is {size} bytes in UTF-8, and a RabbitMQ {holder} "
                    f"holds at most {MAX_SHORT_STRING_BYTES}"
                )
        return Message(
            routing_key=event.name, message_id=event.id, timestamp=event.ts // 1000, body=event.body
        )

    async def _open_channels(
        self,
        deadline: float,
        events: Sequence[EncodedEvent] = (),
        outcomes: Sequence[Outcome | None] = (),
    ) -> tuple[aiormq.abc.AbstractChannel, ConfirmingChannel]:
        """The open channels, or new ones on a new connection if need be, trying until the deadline."""
        if (opened := self._opened()) is not None:
            return opened
        loop = asyncio.get_running_loop()
        async with self._opening:
            while (opened := self._opened()) is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise EventBusUnavailable(
                        f"RabbitMQ ({self._broker}) is unreachable ({self._last_error})",
                        accepted_ids=self._stored(events, outcomes),
                    )
                try:
                    async with asyncio.timeout(min(remaining, self._settings.connect_timeout)):
                        await self._connect()
                except RabbitmqConfigError:
                    raise
                except (TimeoutError, OSError, aiormq.AMQPError, ChannelLost) as error:
                    self._forget_channel(error)
                    if (cause := refusal_cause(error)) is not None:
                        raise self._refused(cause, describe(error), events, outcomes) from None
                    await asyncio.sleep(min(RETRY_PAUSE, max(deadline - loop.time(), 0)))
            return opened

    def _opened(self) -> tuple[aiormq.abc.AbstractChannel, ConfirmingChannel] | None:
        channel, publisher, connection = self._channel, self._publisher, self._connection
        if channel is None or publisher is None or connection is None:
            return None
        if channel.is_closed or publisher.is_closed or connection.is_closed:
            return None
        return channel, publisher

    async def _connect(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            with contextlib.suppress(Exception):
                await self._connection.close()
        connection = await aiormq.connect(self._url)
        self._connection = connection
        channel = await connection.channel(publisher_confirms=False)
        settings = self._settings
        try:
            await channel.exchange_declare(settings.exchange, exchange_type="topic", durable=True)
            if settings.queue:
                await channel.queue_declare(settings.queue, durable=True, arguments=QUORUM)
                await channel.queue_bind(settings.queue, settings.exchange, routing_key="#")
        except aiormq.exceptions.ChannelPreconditionFailed as error:
            with contextlib.suppress(Exception):
                await connection.close()
            raise RabbitmqConfigError(
                f"RabbitMQ ({self._broker}) holds an exchange {settings.exchange!r} or queue "
                f"{settings.queue!r} unlike the one eventgate declares (a durable topic exchange, a "
                f"durable quorum queue): {self._redact(str(error))}. Delete it, or set "
                "EVENTGATE_RABBITMQ_EXCHANGE / EVENTGATE_RABBITMQ_QUEUE to other names"
            ) from None
        self._publisher = await ConfirmingChannel.open(connection, settings.exchange)
        self._channel = channel

    def _forget_channel(self, error: BaseException) -> None:
        self._last_error = self._redact(describe(error))
        if self._channel is not None and (self._channel.is_closed or not isinstance(error, TimeoutError)):
            self._channel = None

    def _drop_connection(self) -> None:
        """Confirms stopped coming on a connection that looks open (a stalled broker or network):
        give it up, so the next publish starts on a new one; closing it politely may stall too."""
        connection, self._connection, self._channel, self._publisher = self._connection, None, None, None
        if connection is not None:
            self._closing.add(asyncio.create_task(self._close_quietly(connection)))

    async def _close_quietly(self, connection: aiormq.abc.AbstractConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(PROBE_TIMEOUT):
                await connection.close()
        self._closing.discard(asyncio.current_task())

    def _refused(
        self, cause: str, said: str, events: Sequence[EncodedEvent], outcomes: Sequence[Outcome | None]
    ) -> SenderRefused:
        """RabbitMQ refuses eventgate itself: no event passes until the configuration does."""
        return SenderRefused(
            f"{cause} — {what_to_check(cause)} (RabbitMQ ({self._broker}) answered {self._redact(said)})",
            cause,
            accepted_ids=self._stored(events, outcomes),
        )

    @staticmethod
    def _stored(events: Sequence[EncodedEvent], outcomes: Sequence[Outcome | None]) -> list[str]:
        return [event.id for event, outcome in zip(events, outcomes, strict=False) if delivered(outcome)]


def delivered(outcome: Outcome | None) -> bool:
    return outcome is not None and outcome.delivered


@contextlib.asynccontextmanager
async def open_rabbitmq_bus(settings: RabbitmqSettings) -> AsyncIterator[RabbitmqEventBus]:
    """The bus, open for as long as the context lasts: a dependency-injector ``Resource``."""
    bus = RabbitmqEventBus(settings)
    try:
        await bus.open()
        yield bus
    finally:
        await bus.close()
