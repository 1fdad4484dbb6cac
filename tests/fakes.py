"""Hand-written fakes that record what happened, for the tests that need more than the memory adapters."""

from collections.abc import Callable, Sequence

from domain.errors import EventRejected
from domain.event import UserEvent


class SelectiveEventBus:
    """A bus that refuses for good any event ``is_poison`` picks, and the whole batch that carries it.

    Like Inngest with a 400: one bad event fails the request it travels in. ``calls`` records the
    ids of every publish attempted; ``accepted`` the events taken, each as often as it was taken.
    """

    def __init__(self, is_poison: Callable[[UserEvent], bool]) -> None:
        self._is_poison = is_poison
        self.calls: list[list[str]] = []
        self.accepted: list[UserEvent] = []

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        self.calls.append([event.id for event in events])
        poison = [event.id for event in events if self._is_poison(event)]
        if poison:
            raise EventRejected(f"invalid event {poison[0]}")
        self.accepted.extend(events)
        return [event.id for event in events]


class ManualMillisecondClock:
    """Wall-clock milliseconds, as the outbox reads them, that move only when told to."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)
