"""Delivering a load of events through a bus as the outbox relay does, while a test breaks things.

Each batch is published; what a failed publish accepted counts as acknowledged, the rest is tried
again after a pause, until every event was acknowledged or time ran out.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.event_ids import new_event_id
from application.ports import EventBusPort
from domain.errors import PublishFailed
from domain.event import UserEvent


@dataclass
class Figures:
    """What a load came to: events sent (counting every attempt), acknowledged, failed publishes."""

    events: int = 0
    sent: int = 0
    acknowledged: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self, stored: Sequence[str]) -> str:
        """The figures a report gives, with what the broker ended up holding."""
        unique = len(set(stored))
        return (
            f"{self.events} events, {self.sent} sent, {len(self.acknowledged)} acknowledged, "
            f"{unique} delivered, {len(stored) - unique} duplicates at transport level, "
            f"{len(self.failures)} failed publishes"
        )


def make_load(count: int, name: str = "app/load") -> list[UserEvent]:
    return [
        UserEvent(name=name, data={"n": n}, id=new_event_id(), ts=1_795_000_000_000 + n) for n in range(count)
    ]


async def deliver(
    bus: EventBusPort,
    events: Sequence[UserEvent],
    *,
    batch: int,
    time_limit: float,
    pause: float = 0.1,
    figures: Figures | None = None,
) -> Figures:
    """Deliver ``events``; ``figures``, when given, is filled as the load goes, for a test to follow it."""
    figures = Figures(events=len(events)) if figures is None else figures
    waiting = list(events)
    give_up_at = time.monotonic() + time_limit
    while waiting and time.monotonic() < give_up_at:
        chunk, waiting = waiting[:batch], waiting[batch:]
        figures.sent += len(chunk)
        try:
            ids = await bus.publish(chunk)
        except PublishFailed as error:
            figures.failures.append(f"{type(error).__name__}: {error.reason}")
            accepted = set(error.accepted_ids)
            figures.acknowledged.extend(event.id for event in chunk if event.id in accepted)
            waiting = [event for event in chunk if event.id not in accepted] + waiting
            await asyncio.sleep(pause)
            continue
        assert ids == [event.id for event in chunk]
        figures.acknowledged.extend(ids)
    return figures


async def acknowledged_at_least(figures: Figures, count: int) -> None:
    """Wait until the load has ``count`` events acknowledged (the caller bounds the wait)."""
    while len(figures.acknowledged) < count:
        await asyncio.sleep(0.01)
