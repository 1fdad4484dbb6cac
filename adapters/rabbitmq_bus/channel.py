"""A channel in confirm mode on an aiormq connection that publishes a batch in one write.

aiormq's ``basic_publish`` encodes each message with pamqp, queues it for a write of its own and
follows its confirm with a future of its own: several times the CPU the broker spends on it. This
channel sits beside aiormq's channels on the same connection: it takes a free number in the
connection's channel table, where aiormq's reader hands it that number's frames (its ``frames``
queue), and writes through the connection's write queue, in order with all else aiormq writes.
Both belong to aiormq's abstract connection (``aiormq.abc``); aiormq keeps the socket, TLS,
authentication and heartbeats. The broker's answers are followed by delivery tag (``Confirms``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import cast

from aiormq.abc import AbstractChannel, AbstractConnection, ChannelFrame
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from adapters.rabbitmq_bus.confirms import Confirms, Outcome
from adapters.rabbitmq_bus.frames import Message, PublishEncoder

logger = logging.getLogger(__name__)

MAX_CHANNEL = 65535
_ACCESS_REFUSED = 403
_PRECONDITION_FAILED = 406


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".rstrip(": ")


class ChannelLost(Exception):
    """The broker closed the channel, or the connection closed, before it answered."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class ConfirmingChannel:
    """Publishes to one exchange with ``mandatory``, in confirm mode; see the module's docstring.

    ``open`` it on a connection; it is closed for good when the broker closes it or the connection
    closes, and every message not answered by then has the outcome that says why.
    """

    def __init__(self, connection: AbstractConnection, number: int, exchange: str) -> None:
        self.frames: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
        """What aiormq's reader hands this channel: (weight, frame) for each frame of its number."""
        self.number = number
        self._connection = connection
        self._encoder = PublishEncoder(
            channel=number, exchange=exchange, frame_max=connection.connection_tune.frame_max
        )
        self._confirms = Confirms()
        self._writing = asyncio.Lock()
        self._reply: asyncio.Future[Frame] | None = None
        self._returned: spec.Basic.Return | None = None
        self._closed: Outcome | None = None
        self._reader = asyncio.create_task(self._read())
        self._connection_closed = connection.closing
        self._connection_closed.add_done_callback(self._on_connection_closed)

    @classmethod
    async def open(cls, connection: AbstractConnection, exchange: str) -> "ConfirmingChannel":
        """A new channel on the connection, in confirm mode. The caller bounds the wait."""
        number = next(n for n in range(1, MAX_CHANNEL + 1) if n not in connection.channels)
        channel = cls(connection, number, exchange)
        # The connection only ever hands a channel its frames, through ``AbstractChannel.frames``.
        connection.channels[number] = cast(AbstractChannel, channel)
        try:
            await channel._call(spec.Channel.Open())
            await channel._call(spec.Confirm.Select())
        except BaseException:
            channel._close(Outcome(delivered=False, refused=False, reason="the channel did not open"))
            raise
        return channel

    @property
    def is_closed(self) -> bool:
        return self._closed is not None or self._connection.is_closed

    async def publish(self, messages: Sequence[Message], deadline: float) -> list[Outcome | None]:
        """Publish the messages in one write; each one's outcome, or ``None`` when the broker did not
        answer for it by ``deadline`` (the event loop's time)."""
        payload = self._encoder.encode(messages)
        batch = None
        try:
            async with asyncio.timeout_at(deadline):
                async with self._writing:
                    if self._closed is not None:
                        return [self._closed] * len(messages)
                    batch = self._confirms.expect([message.message_id for message in messages])
                    # The writer waits for the socket to drain after a batch with a drain future: a
                    # broker that stops reading holds the next batches in the queue, not in memory.
                    drained = asyncio.get_running_loop().create_future()
                    frame = ChannelFrame(payload=payload, should_close=False, drain_future=drained)
                    try:
                        await self._connection.write_queue.put(frame)
                    except BaseException:
                        self._confirms.withdraw(batch)
                        raise
                await batch.settled.wait()
        except TimeoutError:
            pass
        finally:
            if batch is not None:
                self._confirms.forget(batch)
        return list(batch.outcomes) if batch is not None else [None] * len(messages)

    async def _call(self, method: Frame) -> None:
        """Send a synchronous method and wait for the broker's reply."""
        reply = self._reply = asyncio.get_running_loop().create_future()
        await self._write(method)
        await reply

    async def _write(self, method: Frame) -> None:
        await self._connection.write_queue.put(
            ChannelFrame.marshall(channel_number=self.number, frames=[method])
        )

    async def _read(self) -> None:
        try:
            while self._closed is None:
                _, frame = await self.frames.get()
                self._on_frame(frame)
        except Exception as error:  # answers can no longer be followed: send the unanswered again
            logger.exception("The reader of RabbitMQ channel %d failed", self.number)
            self._close(
                Outcome(delivered=False, refused=False, reason=f"its reader failed ({describe(error)})")
            )

    def _on_frame(self, frame: object) -> None:
        match frame:
            case spec.Basic.Ack():
                self._confirms.ack(frame.delivery_tag, multiple=frame.multiple)
            case spec.Basic.Nack():
                self._confirms.nack(frame.delivery_tag, multiple=frame.multiple)
            case spec.Basic.Return():
                self._returned = frame
            case ContentHeader() if self._returned is not None:
                returned, self._returned = self._returned, None
                reason = (
                    f"returned an event as unroutable ({returned.reply_code} {returned.reply_text}): no "
                    f"queue is bound to the exchange {returned.exchange!r} for routing key "
                    f"{returned.routing_key!r}"
                )
                self._confirms.returned(
                    str(frame.properties.message_id), Outcome(delivered=False, refused=True, reason=reason)
                )
            case ContentBody():
                pass  # the body of a returned message: its header said all there is to know
            case spec.Channel.Close():
                with contextlib.suppress(asyncio.QueueFull):
                    self._connection.write_queue.put_nowait(
                        ChannelFrame.marshall(channel_number=self.number, frames=[spec.Channel.CloseOk()])
                    )
                self._close(
                    Outcome(
                        delivered=False,
                        refused=frame.reply_code == _PRECONDITION_FAILED,
                        reason=f"closed the channel ({frame.reply_code} {frame.reply_text})",
                        denied=frame.reply_code == _ACCESS_REFUSED,
                    )
                )
            case Frame() if self._reply is not None and not self._reply.done():
                self._reply.set_result(frame)
            case _:
                logger.warning("RabbitMQ sent channel %d an unexpected frame: %r", self.number, frame)

    def _on_connection_closed(self, closing: "asyncio.Future[object]") -> None:
        error = None if closing.cancelled() else closing.exception()
        said = "" if error is None else f" ({describe(error)})"
        self._close(Outcome(delivered=False, refused=False, reason=f"the connection closed{said}"))

    def _close(self, outcome: Outcome) -> None:
        if self._closed is not None:
            return
        self._closed = outcome
        self._confirms.close(outcome)
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(ChannelLost(outcome))
        if self._connection.channels.get(self.number) is cast(AbstractChannel, self):
            del self._connection.channels[self.number]
        self._connection_closed.remove_done_callback(self._on_connection_closed)
        self._connection_closed.cancel()
        if asyncio.current_task() is not self._reader:
            self._reader.cancel()
