"""The event bus port implemented with NATS JetStream.

Each event is one message on ``<prefix>.<event name>`` whose body is the event's JSON and whose
``Nats-Msg-Id`` header is the event id, so that the stream stores an event once however often it is
sent within its duplicate window. A publish sends all its messages at once, each asking for the
stream's acknowledgement on a reply subject of its own, and then waits for the acknowledgements
together. An event is published once the stream acknowledged it; an acknowledgement saying
``duplicate`` means the stream had it already, which is a success too. The messages go out as one
write of frames the bus encodes itself (``frames``), and the acknowledgements are read as they come
(``client``), both beside nats-py's per-message ways.

When the connection drops, nats-py reconnects by itself; messages not yet acknowledged are sent
again on the new connection, until the publish deadline. Everything a publish waits for (the first
connection, a reconnection, acknowledgements) is bounded by that deadline.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from adapters.event_json import as_encoded
from adapters.nats_bus.client import BatchingClient
from adapters.nats_bus.connection import RECONNECT_WAIT, Redactor, connect_options, server_names
from adapters.nats_bus.errors import NatsConfigError
from adapters.nats_bus.frames import encode_publishes
from adapters.nats_bus.refusals import CREDENTIALS_REJECTED, refusal_cause, what_to_check
from adapters.nats_bus.settings import NatsSettings
from adapters.nats_bus.stream import ensure_stream
from adapters.nats_bus.subjects import check_prefix, subject_token
from application.ports import EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, SenderRefused
from domain.event import UserEvent

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
RETRY_PAUSE = 0.1
"""Seconds to wait before sending again the messages no stream answered (JetStream restarting)."""
_STATUS = "Status"
_NO_RESPONDERS = "503"


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish: ``stream`` and ``seq`` when stored, ``error`` when not."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)

_STORED = 0
_RETRY = 1
_REFUSED = 2


@dataclass(frozen=True, slots=True)
class _Answer:
    outcome: int
    reason: str = ""


_STORED_ANSWER = _Answer(_STORED)
_NO_STREAM = _Answer(_RETRY, "no stream answered")


class _Round:
    """The messages of one sending, waiting for their answers; ``done`` resolves when all came, or
    with ``False`` when the connection dropped (answers still missing will not come)."""

    __slots__ = ("answers", "done", "outstanding")

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.answers: list[_Answer | None] = [None] * size
        self.outstanding = size
        self.done: asyncio.Future[bool] = loop.create_future()

    def answer(self, position: int, answer: _Answer) -> None:
        if self.answers[position] is None:
            self.answers[position] = answer
            self.outstanding -= 1
            if not self.outstanding and not self.done.done():
                self.done.set_result(True)

    def interrupt(self) -> None:
        if not self.done.done():
            self.done.set_result(False)


class NatsEventBus:
    """A ``DeliveryBus`` on a JetStream stream; see the module's docstring.

    ``open`` connects and makes sure of the stream; when NATS cannot be reached within
    ``connect_timeout`` it goes on without it, and keeps trying in the background.
    """

    def __init__(self, settings: NatsSettings) -> None:
        """Raise ``NatsConfigError`` when the subject prefix is not a literal subject."""
        try:
            check_prefix(settings.subject_prefix)
        except ValueError as error:
            raise NatsConfigError(f"EVENTGATE_NATS_SUBJECT_PREFIX: {error}") from None
        self._settings = settings
        self._redact = Redactor(settings)
        self._servers = server_names(settings)
        self._prefix = f"{settings.subject_prefix}."
        self._client = BatchingClient()
        self._connecting: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        """Set once connected and sure of the stream, for good."""
        self._connected = asyncio.Event()
        """Set while connected, once ready."""
        self._fault: str | None = None
        self._closing = False
        self._last_error = "not connected yet"
        self._refusal: tuple[str, str, float] | None = None
        """The cause, words and loop time of the last refusal of eventgate itself, until connected again."""
        self._inbox = ""
        self._replies: Subscription | None = None
        self._rounds: dict[int, _Round] = {}
        self._serials = itertools.count()

    async def open(self) -> None:
        """Connect and check the stream; raise ``NatsConfigError`` when the stream cannot be used."""
        self._connecting = asyncio.create_task(self._connect(), name="nats-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connecting), self._settings.connect_timeout)
        if self._connecting.done() and (error := self._connecting.exception()) is not None:
            raise error
        if not self._ready.is_set() and self._refusal is None:
            logger.warning(
                "NATS (%s) is not reachable yet (%s); events wait until it is",
                self._servers,
                self._last_error,
            )

    async def close(self) -> None:
        self._closing = True
        if self._connecting is not None and not self._connecting.done():
            await self._stop_connecting(self._connecting)
        for waiting in self._rounds.values():
            waiting.interrupt()
        if not self._client.is_closed:
            await self._client.close()

    @staticmethod
    async def _stop_connecting(connecting: "asyncio.Task[None]") -> None:
        """Cancel the first connection until it ends: a cancellation that lands as the server refuses an
        attempt can be lost in nats-py (its ``asyncio.wait_for`` returns the answer instead), and the
        connection then goes on trying, for ever."""
        while not connecting.done():
            connecting.cancel()
            await asyncio.wait({connecting}, timeout=RECONNECT_WAIT)
        with contextlib.suppress(asyncio.CancelledError):
            await connecting

    async def _connect(self) -> None:
        await self._client.connect(
            **connect_options(self._settings),
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._refusal = None
        js = self._client.jetstream(timeout=self._settings.connect_timeout)
        try:
            await ensure_stream(js, self._settings)
        except NatsConfigError as error:
            self._fault = str(error)
            logger.error("%s", error)
            raise
        self._inbox = f"{self._client.new_inbox()}."
        self._replies = await self._client.subscribe(f"{self._inbox}*.*", cb=self._on_reply)
        self._client.direct(self._replies, self._on_answer)
        self._ready.set()
        self._connected.set()
        logger.info("connected to NATS (%s); stream %s", self._servers, self._settings.stream)

    async def _on_error(self, error: Exception) -> None:
        """Log each error once in a row: reconnecting repeats the same one several times a second."""
        said = self._redact(f"{type(error).__name__}: {error}".rstrip(": "))
        cause = refusal_cause(error)
        if cause is None and self._refusal is not None and self._refusal[0] == CREDENTIALS_REJECTED:
            # The server closing the connection it refused, attempt after attempt: nothing new.
            logger.debug("NATS (%s): %s", self._servers, said)
            return
        if said != self._last_error:
            logger.warning("NATS (%s): %s", self._servers, said)
        self._last_error = said
        if cause is not None:
            self._refusal = (cause, said, asyncio.get_running_loop().time())

    async def _on_disconnected(self) -> None:
        if self._ready.is_set() and not self._closing:
            logger.warning("disconnected from NATS (%s); reconnecting", self._servers)
        self._connected.clear()
        for waiting in self._rounds.values():
            waiting.interrupt()

    async def _on_reconnected(self) -> None:
        self._refusal = None
        if self._ready.is_set():
            self._connected.set()
        logger.info("reconnected to NATS (%s)", self._servers)

    async def probe(self) -> str | None:
        """Ready when connected and the stream answers within two seconds."""
        if self._fault is not None:
            return self._redact(self._fault)
        if not self._ready.is_set() or not self._client.is_connected:
            if self._refusal is not None:
                return self._refused(self._refusal, ()).reason
            return f"NATS is unreachable ({self._last_error})"
        try:
            await self._client.jetstream(timeout=PROBE_TIMEOUT).stream_info(self._settings.stream)
        except NotFoundError:
            return f"the JetStream stream {self._settings.stream} does not exist"
        except (nats.errors.Error, TimeoutError) as error:
            return f"the JetStream stream {self._settings.stream} does not answer ({type(error).__name__})"
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Encode the events once and publish them as ``publish_encoded`` does."""
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        """Publish the events, each one's bytes as the body of its message; return their ids, in order,
        once the stream acknowledged each.

        Raises ``EventRejected`` (nothing sent) when an event is larger than the server takes, or
        when the stream refused some for good; ``EventBusUnavailable`` when the deadline passed
        first. Their ``accepted_ids`` list the events stored, in publish order.
        """
        if not events:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.publish_deadline
        messages = [(self._prefix + subject_token(event.name), event.body, event.id) for event in events]
        await self._wait_until_ready(deadline, events)
        self._check_sizes(messages)
        answers: list[_Answer | None] = [None] * len(messages)
        pending = list(range(len(messages)))
        while True:
            await self._send_round(messages, pending, answers, deadline)
            refused = [answer for answer in answers if answer is not None and answer.outcome == _REFUSED]
            if refused:
                raise self._rejected(events, answers, refused[0].reason)
            pending = [index for index, answer in enumerate(answers) if answer is not _STORED_ANSWER]
            if not pending:
                return [event.id for event in events]
            if any(answers[index] is _NO_STREAM for index in pending):
                await self._check_stream_exists(events, answers)
            if loop.time() + RETRY_PAUSE >= deadline:
                raise self._unavailable(events, answers, pending)
            if not all(answers[index] is None for index in pending):
                await asyncio.sleep(RETRY_PAUSE)
            await self._wait_until_ready(deadline, events, answers)

    async def _send_round(
        self,
        messages: Sequence[tuple[str, bytes, str]],
        pending: Sequence[int],
        answers: list[_Answer | None],
        deadline: float,
    ) -> None:
        """Send the ``pending`` messages and wait for their answers, a dropped connection or the
        deadline; what came is written into ``answers``, what did not is left ``None``."""
        loop = asyncio.get_running_loop()
        serial = next(self._serials)
        waiting = _Round(len(pending), loop)
        self._rounds[serial] = waiting
        frames = encode_publishes([messages[index] for index in pending], f"{self._inbox}{serial}.")
        try:
            await self._client.write(frames)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await waiting.done
        except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError) as error:
            self._last_error = type(error).__name__
        finally:
            del self._rounds[serial]
        for position, index in enumerate(pending):
            answers[index] = waiting.answers[position]

    async def _on_reply(self, msg: Msg) -> None:
        """A reply nats-py dispatched to the subscription: one with headers, a status such as no
        responders; the others come to ``_on_answer`` directly."""
        headers = msg.headers
        if headers is not None and headers.get(_STATUS) == _NO_RESPONDERS:
            if (found := self._waiting_for(msg.subject.encode())) is not None:
                waiting, position = found
                waiting.answer(position, _NO_STREAM)
            return
        self._on_answer(msg.subject.encode(), msg.data)

    def _on_answer(self, subject: bytes, data: bytes) -> None:
        """The stream's answer to one message: its acknowledgement, or the error that refused it."""
        found = self._waiting_for(subject)
        if found is None:
            return
        waiting, position = found
        try:
            ack = _ack_decoder.decode(data)
        except msgspec.DecodeError:
            waiting.answer(position, _Answer(_RETRY, "JetStream answered with something not JSON"))
            return
        error = ack.error
        if error is None:
            waiting.answer(position, _STORED_ANSWER)
            return
        said = f"{error.description} (JetStream error {error.err_code})"
        waiting.answer(position, _Answer(_RETRY if error.code >= 500 else _REFUSED, said))

    def _waiting_for(self, subject: bytes) -> tuple[_Round, int] | None:
        """The round a reply subject ``<inbox><serial>.<position>`` answers, and the position in it."""
        serial, _, position = subject[len(self._inbox) :].partition(b".")
        try:
            waiting, index = self._rounds.get(int(serial)), int(position)
        except ValueError:
            return None
        if waiting is None or not 0 <= index < len(waiting.answers):
            return None
        return waiting, index

    async def _wait_until_ready(
        self, deadline: float, events: Sequence[EncodedEvent], answers: Sequence[_Answer | None] = ()
    ) -> None:
        if self._fault is not None:
            raise EventBusUnavailable(self._redact(self._fault), accepted_ids=self._stored(events, answers))
        if self._connected.is_set():
            return
        if self._refusal is not None and self._refusal[0] == CREDENTIALS_REJECTED:
            raise self._refused(self._refusal, self._stored(events, answers))
        try:
            async with asyncio.timeout_at(deadline):
                await self._connected.wait()
        except TimeoutError:
            if self._refusal is not None:
                raise self._refused(self._refusal, self._stored(events, answers)) from None
            raise EventBusUnavailable(
                f"NATS ({self._servers}) is unreachable ({self._last_error}); gave up after "
                f"{self._settings.publish_deadline:g} s",
                accepted_ids=self._stored(events, answers),
            ) from None

    def _check_sizes(self, messages: Sequence[tuple[str, bytes, str]]) -> None:
        """The server refuses a message over its ``max_payload``: refuse it before sending anything."""
        limit = self._client.max_payload
        for _, body, event_id in messages:
            if len(body) > limit:
                raise EventRejected(
                    f"event too large: event {event_id} is {len(body)} bytes once encoded, and the "
                    f"NATS server takes messages of at most {limit} bytes (max_payload)"
                )

    async def _check_stream_exists(
        self, events: Sequence[EncodedEvent], answers: Sequence[_Answer | None]
    ) -> None:
        """No stream answered: a stream that is gone is a refusal; JetStream being away is not."""
        try:
            await self._client.jetstream(timeout=PROBE_TIMEOUT).stream_info(self._settings.stream)
        except NotFoundError:
            raise EventRejected(
                f"no JetStream stream captures {self._prefix}>: the stream {self._settings.stream} does "
                "not exist; restart eventgate to create it, or create it capturing that subject",
                accepted_ids=self._stored(events, answers),
            ) from None
        except (nats.errors.Error, TimeoutError):
            return

    def _rejected(
        self, events: Sequence[EncodedEvent], answers: Sequence[_Answer | None], reason: str
    ) -> EventRejected:
        stored = self._stored(events, answers)
        return EventRejected(
            f"JetStream refused an event: {reason}; {len(stored)} of {len(events)} events were published",
            accepted_ids=stored,
        )

    def _unavailable(
        self, events: Sequence[EncodedEvent], answers: Sequence[_Answer | None], pending: Sequence[int]
    ) -> EventBusUnavailable:
        stored = self._stored(events, answers)
        refusal = self._refusal
        # A refusal since this publish began (its deadline ago, give or take a late event loop) is why
        # no acknowledgement came: a message the account may not publish is dropped unanswered.
        since = asyncio.get_running_loop().time() - 2 * self._settings.publish_deadline
        if refusal is not None and refusal[2] >= since:
            return self._refused(refusal, stored)
        said = [answer.reason for index in pending if (answer := answers[index]) is not None]
        why = said[0] if said else f"no acknowledgement came ({self._last_error})"
        return EventBusUnavailable(
            f"NATS ({self._servers}) did not store {len(pending)} of {len(events)} events within "
            f"{self._settings.publish_deadline:g} s: {why}",
            accepted_ids=stored,
        )

    def _refused(self, refusal: tuple[str, str, float], accepted_ids: Sequence[str]) -> SenderRefused:
        """NATS refuses eventgate itself: no event passes until the configuration does."""
        cause, said, _ = refusal
        return SenderRefused(
            f"{cause} — {what_to_check(cause)} (NATS ({self._servers}) answered {said})",
            cause,
            accepted_ids=accepted_ids,
        )

    @staticmethod
    def _stored(events: Sequence[EncodedEvent], answers: Sequence[_Answer | None]) -> list[str]:
        return [event.id for event, answer in zip(events, answers, strict=False) if answer is _STORED_ANSWER]


@contextlib.asynccontextmanager
async def open_nats_bus(settings: NatsSettings) -> AsyncIterator[NatsEventBus]:
    """The bus, open for as long as the context lasts: a dependency-injector ``Resource``."""
    bus = NatsEventBus(settings)
    try:
        await bus.open()
        yield bus
    finally:
        await bus.close()
