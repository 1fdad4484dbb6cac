"""The event bus port implemented with RabbitMQ, over aiormq.

Each event is one persistent message on a durable topic exchange, its routing key the event name,
its body the event's JSON, with ``message_id`` the event id, ``timestamp`` the event's time (whole
seconds, as AMQP has it) and ``content_type`` ``application/json``. Messages go out with publisher
confirms and ``mandatory``: an event is published once the broker confirmed it and did not return
it. A message returned as unroutable is refused for good; a nacked one, or one whose confirm did
not come, is tried again until the publish deadline. The broker does not deduplicate: a message
sent again after a lost connection may reach a queue twice, with the same ``message_id``.

aiormq rather than aio-pika, which wraps it: in batches of the relay's size it publishes several
times as many messages per second, for less CPU per message.
"""

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiormq
import aiormq.abc
from aiormq import spec
from pamqp.common import FieldTable

from adapters.event_json import encode_event
from adapters.rabbitmq_bus.errors import RabbitmqConfigError
from adapters.rabbitmq_bus.redaction import REDACTED_LOGGERS, RedactCredentials, Redactor, broker_name
from adapters.rabbitmq_bus.settings import RabbitmqSettings
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
PERSISTENT = 2
MAX_ROUTING_KEY_BYTES = 255
PROBE_TIMEOUT = 2.0
RETRY_PAUSE = 0.25
"""Seconds between two attempts to connect, or to send again what was nacked."""
QUORUM: FieldTable = {"x-queue-type": "quorum"}
_PRECONDITION_FAILED = 406


@dataclass(frozen=True, slots=True)
class _Outcome:
    refused: bool
    reason: str


_STORED = _Outcome(refused=False, reason="")
_NACKED = _Outcome(refused=False, reason="it nacked the message (a queue could not take it)")


class RabbitmqEventBus:
    """An ``EventBusPort`` and ``ReadinessProbe`` on a RabbitMQ exchange; see the module's docstring.

    One connection and one confirming channel serve every publish. When either closes, the next
    publish opens them again (declaring the exchange and queue again) within its deadline.
    """

    def __init__(self, settings: RabbitmqSettings) -> None:
        self._settings = settings
        self._url = settings.url.reveal()
        self._redact = Redactor(self._url)
        self._broker = broker_name(self._url)
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._channel: aiormq.Channel | None = None
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
            await self._open_channel(loop.time() + self._settings.connect_timeout)
        except EventBusUnavailable as error:
            logger.warning("RabbitMQ is not reachable yet (%s); events wait until it is", error.reason)

    async def close(self) -> None:
        try:
            if self._connection is not None and not self._connection.is_closed:
                await self._connection.close()
        finally:
            self._connection = self._channel = None
            for name in REDACTED_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)

    async def probe(self) -> str | None:
        """Ready when a channel is open, or one can be opened, within two seconds."""
        loop = asyncio.get_running_loop()
        try:
            channel = await self._open_channel(loop.time() + PROBE_TIMEOUT)
            async with asyncio.timeout(PROBE_TIMEOUT):
                await channel.exchange_declare(self._settings.exchange, passive=True)
        except EventBusUnavailable as error:
            return error.reason
        except (TimeoutError, aiormq.AMQPError, ConnectionError) as error:
            self._forget_channel(error)
            return f"RabbitMQ ({self._broker}) does not answer ({type(error).__name__})"
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Publish the events; return their ids, in order, once the broker confirmed each.

        Raises ``EventRejected`` when an event cannot be routed (nothing is sent when its name is too
        long for a routing key), ``EventBusUnavailable`` when the deadline passed first. Their
        ``accepted_ids`` list the events confirmed, in publish order.
        """
        if not events:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.publish_deadline
        for event in events:
            if len(event.name.encode("utf-8")) > MAX_ROUTING_KEY_BYTES:
                raise EventRejected(
                    f"event {event.id}: its name is {len(event.name.encode('utf-8'))} bytes in UTF-8, and a "
                    f"RabbitMQ routing key holds at most {MAX_ROUTING_KEY_BYTES}"
                )
        bodies = [encode_event(event) for event in events]
        outcomes: list[_Outcome | None] = [None] * len(events)
        while True:
            channel = await self._open_channel(deadline, events, outcomes)
            pending = [index for index, outcome in enumerate(outcomes) if outcome is not _STORED]
            await self._send(
                channel=channel,
                events=events,
                bodies=bodies,
                pending=pending,
                outcomes=outcomes,
                deadline=deadline,
            )
            refused = [outcome for outcome in outcomes if outcome is not None and outcome.refused]
            if refused:
                stored = self._stored(events, outcomes)
                raise EventRejected(
                    f"RabbitMQ {refused[0].reason}; {len(stored)} of {len(events)} events were published",
                    accepted_ids=stored,
                )
            missing = [outcome for outcome in outcomes if outcome is not _STORED]
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
                    f"{said or f'no confirmation came ({self._last_error})'}",
                    accepted_ids=stored,
                )
            await asyncio.sleep(RETRY_PAUSE)

    async def _send(
        self,
        *,
        channel: aiormq.Channel,
        events: Sequence[UserEvent],
        bodies: Sequence[bytes],
        pending: Sequence[int],
        outcomes: list[_Outcome | None],
        deadline: float,
    ) -> None:
        """Publish the ``pending`` messages together and wait for their confirms until the deadline;
        write each one's outcome, or ``None`` when none came."""
        exchange = self._settings.exchange
        sends = [
            asyncio.ensure_future(
                channel.basic_publish(
                    bodies[index],
                    exchange=exchange,
                    routing_key=events[index].name,
                    properties=spec.Basic.Properties(
                        content_type=CONTENT_TYPE,
                        delivery_mode=PERSISTENT,
                        message_id=events[index].id,
                        timestamp=datetime.datetime.fromtimestamp(events[index].ts // 1000, datetime.UTC),
                    ),
                    mandatory=True,
                    wait=False,
                )
            )
            for index in pending
        ]
        loop = asyncio.get_running_loop()
        await asyncio.wait(sends, timeout=max(deadline - loop.time(), 0))
        for index, send in zip(pending, sends, strict=True):
            if not send.done():
                send.cancel()
                outcomes[index] = None
                continue
            outcomes[index] = self._outcome(send)

    def _outcome(self, send: "asyncio.Future[Any]") -> _Outcome | None:
        if send.cancelled():
            return None
        error = send.exception()
        if error is None:
            return _STORED if isinstance(send.result(), spec.Basic.Ack) else _NACKED
        if isinstance(error, aiormq.exceptions.PublishError) and isinstance(error.frame, spec.Basic.Return):
            frame = error.frame
            return _Outcome(
                refused=True,
                reason=f"returned an event as unroutable ({frame.reply_code} {frame.reply_text}): no queue "
                f"is bound to the exchange {frame.exchange!r} for routing key {frame.routing_key!r}",
            )
        if isinstance(error, aiormq.exceptions.DeliveryError):
            return _NACKED
        if isinstance(error, aiormq.exceptions.ChannelPreconditionFailed):
            return _Outcome(refused=True, reason=f"refused an event: {self._redact(str(error))}")
        self._forget_channel(error)
        return _Outcome(refused=False, reason=f"{type(error).__name__}: {self._redact(str(error))}")

    async def _open_channel(
        self,
        deadline: float,
        events: Sequence[UserEvent] = (),
        outcomes: Sequence[_Outcome | None] = (),
    ) -> aiormq.Channel:
        """The open channel, or a new one on a new connection if need be, trying until the deadline."""
        channel = self._channel
        connection = self._connection
        if (
            channel is not None
            and not channel.is_closed
            and connection is not None
            and not connection.is_closed
        ):
            return channel
        loop = asyncio.get_running_loop()
        async with self._opening:
            while self._channel is None or self._channel.is_closed:
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
                except (TimeoutError, OSError, aiormq.AMQPError) as error:
                    self._forget_channel(error)
                    await asyncio.sleep(min(RETRY_PAUSE, max(deadline - loop.time(), 0)))
            return self._channel

    async def _connect(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            with contextlib.suppress(Exception):
                await self._connection.close()
        connection = await aiormq.connect(self._url)
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"aiormq opened a {type(channel).__name__}, not a Channel")
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
        self._channel = channel

    def _forget_channel(self, error: BaseException) -> None:
        self._last_error = self._redact(f"{type(error).__name__}: {error}".rstrip(": "))
        if self._channel is not None and (self._channel.is_closed or not isinstance(error, TimeoutError)):
            self._channel = None

    def _drop_connection(self) -> None:
        """Confirms stopped coming on a connection that looks open (a stalled broker or network):
        give it up, so the next publish starts on a new one; closing it politely may stall too."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            self._closing.add(asyncio.create_task(self._close_quietly(connection)))

    async def _close_quietly(self, connection: aiormq.abc.AbstractConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(PROBE_TIMEOUT):
                await connection.close()
        self._closing.discard(asyncio.current_task())

    @staticmethod
    def _stored(events: Sequence[UserEvent], outcomes: Sequence[_Outcome | None]) -> list[str]:
        return [event.id for event, outcome in zip(events, outcomes, strict=False) if outcome is _STORED]


@contextlib.asynccontextmanager
async def open_rabbitmq_bus(settings: RabbitmqSettings) -> AsyncIterator[RabbitmqEventBus]:
    """The bus, open for as long as the context lasts: a dependency-injector ``Resource``."""
    bus = RabbitmqEventBus(settings)
    try:
        await bus.open()
        yield bus
    finally:
        await bus.close()
