"""Hand-written fakes that record what happened, for the tests that need more than the memory adapters."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence

from adapters.event_json import as_encoded
from application.ports import ClaimedEvent, EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent


class SelectiveEventBus:
    """A bus that refuses for good any event ``is_poison`` picks, and the whole batch that carries it.

    Like Inngest with a 400: one bad event fails the request it travels in. ``calls`` records the
    ids of every publish attempted; ``accepted`` the events taken (encoded, as a bus carries them),
    each as often as it was taken.
    """

    def __init__(self, is_poison: Callable[[EncodedEvent], bool]) -> None:
        self._is_poison = is_poison
        self.calls: list[list[str]] = []
        self.accepted: list[EncodedEvent] = []

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        self.calls.append([event.id for event in events])
        poison = [event.id for event in events if self._is_poison(event)]
        if poison:
            raise EventRejected(f"invalid event {poison[0]}")
        self.accepted.extend(events)
        return [event.id for event in events]


class RecordingOutbox:
    """An outbox that only notes each call made to it, and claims what it was given."""

    def __init__(self, claimable: Sequence[ClaimedEvent] = ()) -> None:
        self.claimable = list(claimable)
        self.calls: list[tuple[object, ...]] = []

    async def hold_owner(self, owner: str) -> None:
        self.calls.append(("hold_owner", owner))

    async def release_dead_owners(self) -> int:
        self.calls.append(("release_dead_owners",))
        return 0

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        self.calls.append(("claim", owner, limit, lease_seconds))
        return self.claimable[:limit]

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        self.calls.append(("mark_delivered", owner, list(event_ids)))

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        self.calls.append(("retry_later", owner, list(event_ids), delay, error))

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        self.calls.append(("dead_letter", owner, list(event_ids), reason))


class ManualMillisecondClock:
    """Wall-clock milliseconds, as the outbox reads them, that move only when told to."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


class SwitchableEventBus:
    """A bus that is up, or down with ``failure`` for every publish, and records what was asked of it.

    Down, its probe fails too unless ``probe_sees_outages`` is false: a probe that only checks that
    the bus answers, as Inngest's does, passes while every publish is refused. ``publishes`` and
    ``probes`` record when each began (monotonic seconds), ``delivered_at`` when each accepted batch
    was taken, and ``most_at_once`` the most publishes and probes that were under way together.
    """

    def __init__(self, *, probe_sees_outages: bool = True) -> None:
        self.failure: EventBusUnavailable | None = None
        self.probe_sees_outages = probe_sees_outages
        self.accepted: list[EncodedEvent] = []
        self.delivered_at: list[float] = []
        self.publishes: list[float] = []
        self.probes: list[float] = []
        self.most_at_once = 0
        self._under_way = 0

    async def probe(self) -> str | None:
        self.probes.append(time.monotonic())
        async with self._one_more():
            if self.failure is not None and self.probe_sees_outages:
                return self.failure.reason
            return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        self.publishes.append(time.monotonic())
        async with self._one_more():
            if self.failure is not None:
                raise self.failure
            self.accepted.extend(events)
            self.delivered_at.append(time.monotonic())
            return [event.id for event in events]

    @contextlib.asynccontextmanager
    async def _one_more(self) -> AsyncIterator[None]:
        self._under_way += 1
        self.most_at_once = max(self.most_at_once, self._under_way)
        try:
            await asyncio.sleep(0)
            yield
        finally:
            self._under_way -= 1
