"""Decorators that count what passes through a port, and change nothing else.

They sit on the relay's hot path (thousands of events a second), so every label value is bound
once, at construction, and a publish costs one ``inc`` per counter and one ``observe_batch`` for the
delivery latencies of its events, the one per-event measure there is: the locks prometheus_client
takes are per batch, not per event.
"""

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from prometheus_client import Counter

from adapters.metrics.registry import Metrics
from application.ports import ClaimedEvent, DeliveryBus, EncodedEvent, OutboxPort
from domain.errors import PublishFailed
from domain.event import UserEvent

MAX_PAUSE_CAUSES = 16
OTHER_CAUSE = "other"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class _Stamped(Protocol):
    """What the count of a publish reads of an event, encoded or not."""

    @property
    def id(self) -> str: ...

    @property
    def ts(self) -> int: ...


_Event = TypeVar("_Event", bound=_Stamped)


class MeteredEventBus:
    """A ``DeliveryBus`` that counts what the bus of ``inner`` acknowledged.

    Acknowledged events count as published, with their batch size and delivery latency (now minus
    the event's ``ts``); those in a failure's ``accepted_ids`` count as published too. Failures
    are counted once per event where the event's fate is decided, not per publish attempt here:
    by ``MeteredOutbox`` for the relay, and by the HTTP outcome counters in direct mode. Errors
    are raised again unchanged.
    """

    def __init__(
        self,
        inner: DeliveryBus,
        metrics: Metrics,
        backend: str,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._published = metrics.events_published.labels(backend=backend)
        self._batch_size = metrics.publish_batch_size.labels(backend=backend)
        self._latency = metrics.delivery_latency.labels(backend=backend)
        self._wall_clock = wall_clock

    async def probe(self) -> str | None:
        return await self._inner.probe()

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        return await self._counted(self._inner.publish, events)

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        return await self._counted(self._inner.publish_encoded, events)

    async def _counted(
        self, publish: Callable[[Sequence[_Event]], Awaitable[list[str]]], events: Sequence[_Event]
    ) -> list[str]:
        try:
            ids = await publish(events)
        except PublishFailed as error:
            self._count_partial(events, error.accepted_ids)
            raise
        if events:
            self._published.inc(len(events))
            self._batch_size.observe(len(events))
            self._observe_latency(events)
        return ids

    def _count_partial(self, events: Sequence[_Stamped], accepted_ids: Sequence[str]) -> None:
        if accepted_ids:
            self._published.inc(len(accepted_ids))
            accepted = set(accepted_ids)
            self._observe_latency([event for event in events if event.id in accepted])

    def _observe_latency(self, events: Sequence[_Stamped]) -> None:
        now_ms = self._wall_clock() * 1000.0
        self._latency.observe_batch(
            (waited_ms * 0.001 if waited_ms > 0 else 0.0)
            for event in events
            for waited_ms in [now_ms - event.ts]
        )


class MeteredOutbox:
    """An ``OutboxPort`` that forwards every call to ``inner`` and counts each event's fate once.

    Retried: an event released to be delivered again, counted the first time only (it was claimed
    with no attempt behind it), however many attempts it then takes. Failed and dead-lettered: an
    event the bus refused for good, which the relay buries. ``backend`` names the bus. The counts
    are of the ids handed over once the call succeeded; an id whose lease another relay had taken
    meanwhile is counted though not changed.
    """

    def __init__(self, inner: OutboxPort, metrics: Metrics, backend: str) -> None:
        self._inner = inner
        self._retried = metrics.events_retried.labels(backend=backend)
        self._failed = metrics.events_failed.labels(backend=backend)
        self._dead_lettered = metrics.events_dead_lettered.labels(backend=backend)
        self._first_attempts: set[str] = set()

    async def hold_owner(self, owner: str) -> None:
        await self._inner.hold_owner(owner)

    async def release_dead_owners(self) -> int:
        return await self._inner.release_dead_owners()

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        claimed = await self._inner.claim(owner, limit, lease_seconds)
        self._first_attempts = {item.event.id for item in claimed if item.attempts == 0}
        return claimed

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        await self._inner.mark_delivered(owner, event_ids)

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        await self._inner.retry_later(owner, event_ids, delay, error)
        first = self._first_attempts.intersection(event_ids)
        if first:
            self._retried.inc(len(first))
            self._first_attempts -= first

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        await self._inner.dead_letter(owner, event_ids, reason)
        if event_ids:
            self._failed.inc(len(event_ids))
            self._dead_lettered.inc(len(event_ids))


class DeliveryPauses:
    """Counts the relay's pauses for a failing bus by cause: the relay's ``on_pause``.

    A cause is a few words (``event key rejected``), counted under its slug (``event-key-rejected``);
    beyond ``MAX_PAUSE_CAUSES`` distinct ones, as ``other``.
    """

    def __init__(self, metrics: Metrics, backend: str) -> None:
        self._pauses = metrics.delivery_pauses
        self._backend = backend
        self._by_cause: dict[str, Counter] = {}

    def __call__(self, cause: str) -> None:
        counter = self._by_cause.get(cause)
        if counter is None:
            slug = _NOT_SLUG.sub("-", cause.lower()).strip("-") or OTHER_CAUSE
            if len(self._by_cause) >= MAX_PAUSE_CAUSES:
                slug = OTHER_CAUSE
            counter = self._by_cause[cause] = self._pauses.labels(backend=self._backend, cause=slug)
        counter.inc()
