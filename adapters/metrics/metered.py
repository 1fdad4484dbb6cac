"""Decorators that count what passes through a port, and change nothing else.

They sit on the relay's hot path (thousands of events a second), so every label value is bound
once, at construction, and a publish costs one ``inc`` per counter plus one ``observe`` per event
for the delivery latency, the one per-event measure there is.
"""

import time
from collections.abc import Callable, Sequence

from prometheus_client import Counter

from adapters.metrics.registry import Metrics
from application.ports import ClaimedEvent, OutboxPort, ProbedEventBus
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent


class MeteredEventBus:
    """An ``EventBusPort`` (and ``ReadinessProbe``) that counts the publishes of ``inner``.

    Acknowledged events count as published, with their batch size and delivery latency (now
    minus the event's ``ts``); on ``EventBusUnavailable`` the events not acknowledged count as
    retried, on ``EventRejected`` as failed, those in ``accepted_ids`` as published in both cases.
    Errors are raised again unchanged; any other exception passes through uncounted.
    """

    def __init__(
        self,
        inner: ProbedEventBus,
        metrics: Metrics,
        backend: str,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._published = metrics.events_published.labels(backend=backend)
        self._retried = metrics.events_retried.labels(backend=backend)
        self._failed = metrics.events_failed.labels(backend=backend)
        self._batch_size = metrics.publish_batch_size.labels(backend=backend)
        self._latency = metrics.delivery_latency.labels(backend=backend)
        self._wall_clock = wall_clock

    async def probe(self) -> str | None:
        return await self._inner.probe()

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        try:
            ids = await self._inner.publish(events)
        except EventBusUnavailable as error:
            self._count_partial(events, error.accepted_ids)
            self._count_rest(self._retried, len(events) - len(error.accepted_ids))
            raise
        except EventRejected as error:
            self._count_partial(events, error.accepted_ids)
            self._count_rest(self._failed, len(events) - len(error.accepted_ids))
            raise
        if events:
            self._published.inc(len(events))
            self._batch_size.observe(len(events))
            self._observe_latency(events)
        return ids

    def _count_partial(self, events: Sequence[UserEvent], accepted_ids: Sequence[str]) -> None:
        if accepted_ids:
            self._published.inc(len(accepted_ids))
            accepted = set(accepted_ids)
            self._observe_latency([event for event in events if event.id in accepted])

    @staticmethod
    def _count_rest(counter: Counter, count: int) -> None:
        if count > 0:
            counter.inc(count)

    def _observe_latency(self, events: Sequence[UserEvent]) -> None:
        now_ms = self._wall_clock() * 1000.0
        observe = self._latency.observe
        for event in events:
            waited_ms = now_ms - event.ts
            observe(waited_ms * 0.001 if waited_ms > 0 else 0.0)


class MeteredOutbox:
    """An ``OutboxPort`` that forwards every call to ``inner`` and counts the events dead-lettered.

    ``backend`` names the bus that refused them. The count is of the ids handed over once the call
    succeeded; an id whose lease another relay had taken meanwhile is counted though not buried.
    """

    def __init__(self, inner: OutboxPort, metrics: Metrics, backend: str) -> None:
        self._inner = inner
        self._dead_lettered = metrics.events_dead_lettered.labels(backend=backend)

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        return await self._inner.claim(owner, limit, lease_seconds)

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        await self._inner.mark_delivered(owner, event_ids)

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        await self._inner.retry_later(owner, event_ids, delay, error)

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        await self._inner.dead_letter(owner, event_ids, reason)
        if event_ids:
            self._dead_lettered.inc(len(event_ids))
