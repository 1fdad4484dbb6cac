"""Coalescing the publishes of concurrent requests into one publish of the bus behind.

In direct mode every HTTP request publishes its own event and answers only once the bus has it.
One outbound request per event can never be fast: httpx costs about 1 ms of CPU per request at
32 concurrent callers (issue 7), which caps the service near 1,000 requests/s whatever else it
does. Gathering the events of concurrent requests into one publish, so one Inngest request
carries dozens of events, pays that cost once per batch instead of once per event.
"""

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Protocol

from adapters.event_json import encoded_size
from application.ports import ProbedEventBus
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed, SenderRefused
from domain.event import UserEvent

DEFAULT_LINGER = 0.002
DEFAULT_MAX_EVENTS = 5000
DEFAULT_MAX_IN_FLIGHT = 4
CLOSED_REASON = "the event bus is shutting down"


class TimerHandle(Protocol):
    """What scheduling a callback returns: ``asyncio.TimerHandle`` is one."""

    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], TimerHandle]
"""Call a function after a delay in seconds, like ``loop.call_later``; tests pass their own."""


def _array_size(event_bytes: int, count: int) -> int:
    """Bytes of a JSON array of ``count`` encoded events adding up to ``event_bytes``."""
    return event_bytes + max(count - 1, 0) + 2


class _Batch:
    """Events gathered for one publish of the inner bus, and its outcome once settled.

    Each caller waits on a future of its own, resolved when the outcome is known: cancelling a
    caller cancels only that future, never the publish, which runs in a task nobody awaits. This
    is what ``asyncio.shield`` would give, without its extra future and callback per caller.
    ``loop`` is the event loop it gathers in, looked up once: ``asyncio.get_running_loop()``
    makes a ``getpid()`` system call each time.
    """

    __slots__ = (
        "accepted",
        "due",
        "error",
        "event_bytes",
        "events",
        "ids",
        "loop",
        "timer",
        "traceback",
        "waiters",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: list[UserEvent] = []
        self.event_bytes = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None
        self.timer: TimerHandle | None = None
        self.due = False
        """It should have gone already, but every batch slot was taken: it goes when one frees."""
        self.accepted: frozenset[str] | None = None
        """The batch's ``accepted_ids`` as a set, made once, when a publish failed part-way."""


class CoalescingEventBus:
    """An ``EventBusPort`` (and ``ReadinessProbe``) gathering concurrent publishes into one.

    The first publish of a batch arms one timer of ``linger`` seconds; publishes until it fires
    join the batch, which then goes to ``inner.publish`` in one call. A batch goes at once when it
    reaches ``max_events``, or when the next publish would take it past ``max_bytes`` of encoded
    JSON (only measured when ``max_bytes`` is given; otherwise the inner bus, which splits by bytes
    anyway, is left to it). A publish's events always travel together, so one publish larger than
    the limits becomes a batch of its own.

    While a batch is in flight the next one gathers and may go too, up to ``max_in_flight``
    batches at once; beyond that the gathering batch waits for a slot (and keeps filling), and
    once it is full new publishes wait for room: back-pressure instead of an unbounded queue.

    Each caller gets the outcome for its own events: their ids; or, when the inner bus raised
    ``PublishFailed``, success if all its events are in ``accepted_ids``, otherwise the same kind
    of error, with the same reason (and ``retry_after``), whose ``accepted_ids`` are its own
    events'. Any other exception reaches every caller of that batch. The batch runs in a task of
    its own, so a caller cancelled while waiting (a client gone) only stops waiting; its events
    are published all the same.
    """

    def __init__(
        self,
        inner: ProbedEventBus,
        *,
        linger: float = DEFAULT_LINGER,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        measure: Callable[[UserEvent], int] = encoded_size,
        schedule: Schedule | None = None,
    ) -> None:
        if not (math.isfinite(linger) and linger >= 0):
            raise ValueError(f"linger must be a finite number of seconds >= 0, got {linger}")
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 when given, got {max_bytes}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._inner = inner
        self._linger = linger
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_in_flight = max_in_flight
        self._measure = measure
        self._schedule = schedule
        self._pending: _Batch | None = None
        self._in_flight = 0
        self._senders: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._closed = False

    async def probe(self) -> str | None:
        """Not ready once closing; otherwise as ready as the inner bus."""
        if self._closed:
            return CLOSED_REASON
        return await self._inner.probe()

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Publish the events with those of concurrent callers; return their ids, in order.

        Raises ``EventBusUnavailable`` after ``close``, and what ``EventBusPort.publish`` raises.
        """
        if self._closed:
            raise EventBusUnavailable(CLOSED_REASON)
        if not events:
            return []
        count = len(events)
        event_bytes = 0
        if self._max_bytes is not None:
            event_bytes = sum(self._measure(event) for event in events)
        batch = await self._batch_with_room(count, event_bytes)
        start = len(batch.events)
        batch.events.extend(events)
        batch.event_bytes += event_bytes
        waiter = batch.loop.create_future()
        batch.waiters.append(waiter)
        if self._is_full(batch):
            self._flush(batch)
        await waiter
        error = batch.error
        if error is None:
            return batch.ids[start : start + count]
        if isinstance(error, PublishFailed):
            return _own_outcome(error, batch, events)
        # Raised in every caller: start from the bus's traceback each time, as ``Future.result`` does.
        raise error.with_traceback(batch.traceback)

    async def close(self) -> None:
        """Send what is gathered, wait until no batch is in flight, and refuse publishes from now on.

        Call it at shutdown, before closing what the inner bus uses (its HTTP client). Callers
        still waiting for room in a full pipeline are refused too. The inner bus is not closed.
        """
        self._closed = True
        self._room.set()
        if self._pending is not None:
            self._flush(self._pending)
        while self._senders:
            await asyncio.wait(list(self._senders))

    async def _batch_with_room(self, count: int, event_bytes: int) -> _Batch:
        """The gathering batch if these events fit, or a new one; waits while every slot is taken."""
        while True:
            batch = self._pending
            if batch is None or self._fits(batch, count, event_bytes):
                return self._start_batch() if batch is None else batch
            if self._in_flight < self._max_in_flight:
                self._launch(batch)
                continue
            self._make_due(batch)
            self._room.clear()
            await self._room.wait()
            if self._closed:
                raise EventBusUnavailable(CLOSED_REASON)

    def _fits(self, batch: _Batch, count: int, event_bytes: int) -> bool:
        total = len(batch.events) + count
        if total > self._max_events:
            return False
        return self._max_bytes is None or (
            _array_size(batch.event_bytes + event_bytes, total) <= self._max_bytes
        )

    def _is_full(self, batch: _Batch) -> bool:
        if len(batch.events) >= self._max_events:
            return True
        return self._max_bytes is not None and (
            _array_size(batch.event_bytes, len(batch.events)) >= self._max_bytes
        )

    def _start_batch(self) -> _Batch:
        batch = _Batch(asyncio.get_running_loop())
        schedule = batch.loop.call_later if self._schedule is None else self._schedule
        batch.timer = schedule(self._linger, partial(self._linger_over, batch))
        self._pending = batch
        return batch

    def _linger_over(self, batch: _Batch) -> None:
        batch.timer = None
        if batch is self._pending:
            self._flush(batch)

    def _flush(self, batch: _Batch) -> None:
        """Send the gathering batch now, or as soon as a slot frees."""
        if self._in_flight < self._max_in_flight:
            self._launch(batch)
        else:
            self._make_due(batch)

    @staticmethod
    def _make_due(batch: _Batch) -> None:
        batch.due = True
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None

    def _launch(self, batch: _Batch) -> None:
        self._make_due(batch)
        self._pending = None
        self._in_flight += 1
        sender = batch.loop.create_task(self._send(batch))
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)
        self._room.set()

    async def _send(self, batch: _Batch) -> None:
        """Publish one batch and settle its outcome, whatever happens; callers never await this task."""
        try:
            ids = await self._inner.publish(batch.events)
        except Exception as error:
            batch.error, batch.traceback = error, error.__traceback__
        else:
            if len(ids) == len(batch.events):
                batch.ids = ids
            else:
                batch.error = RuntimeError(f"the bus returned {len(ids)} ids for {len(batch.events)} events")
        finally:
            if batch.error is None and not batch.ids:
                # Cancelled (the loop shutting down) or interrupted: free the callers all the same.
                batch.error = EventBusUnavailable("the publish was cancelled before the bus answered")
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._in_flight -= 1
            waiting = self._pending
            if waiting is not None and waiting.due:
                self._launch(waiting)


def _own_outcome(error: PublishFailed, batch: _Batch, events: Sequence[UserEvent]) -> list[str]:
    """One caller's share of a failed batch: its ids when the bus took all its events, else its error."""
    if batch.accepted is None:
        batch.accepted = frozenset(error.accepted_ids)
    accepted = batch.accepted
    own = [event.id for event in events if event.id in accepted]
    if len(own) == len(events):
        return own
    raise _narrowed(error, own) from error


def _narrowed(error: PublishFailed, accepted_ids: Sequence[str]) -> PublishFailed:
    """The same kind of failure and reason, with ``accepted_ids`` limited to one caller's events."""
    if isinstance(error, SenderRefused):
        return SenderRefused(error.reason, error.cause, accepted_ids=accepted_ids)
    if isinstance(error, EventBusUnavailable):
        return EventBusUnavailable(error.reason, error.retry_after, accepted_ids=accepted_ids)
    if isinstance(error, EventRejected):
        return EventRejected(error.reason, accepted_ids=accepted_ids)
    return PublishFailed(error.reason, accepted_ids=accepted_ids)


async def open_coalescer(inner: ProbedEventBus, linger: float) -> AsyncIterator[CoalescingEventBus]:
    """The coalescer as a container resource: at shutdown it sends what it gathered, then refuses more."""
    coalescer = CoalescingEventBus(inner, linger=linger)
    try:
        yield coalescer
    finally:
        await coalescer.close()
