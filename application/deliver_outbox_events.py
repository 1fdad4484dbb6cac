"""Move one batch of events from the outbox to the bus, and decide the fate of each event."""

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from application.ports import ClaimedEvent, EventBusPort, OutboxPort
from domain.backoff import full_jitter_delay
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch came to; ``pause`` is how long the relay should wait before claiming again."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    pause: float = 0.0
    full: bool = False
    """A whole batch was claimed: more events may be waiting already."""


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Backoff for events the bus could not take: exponential from ``base``, at most ``cap`` seconds."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempts: int, retry_after: float | None, unit_random: float) -> float:
        backoff = full_jitter_delay(attempts, base=self.base, cap=self.cap, unit_random=unit_random)
        return max(backoff, retry_after or 0.0)


DEFAULT_SCHEDULE = RetrySchedule()


class DeliverOutboxEvents:
    """Claim due events, publish them in one batch, and record each one's outcome in the outbox.

    Nothing is dropped: delivered events are marked, events the bus could not take wait and are
    tried again, and events the bus refused for good are dead-lettered with the bus's reason.
    """

    def __init__(
        self,
        outbox: OutboxPort,
        bus: EventBusPort,
        *,
        owner: str,
        batch_size: int = 1000,
        lease_seconds: float = 60.0,
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._bus = bus
        self._owner = owner
        self._batch_size = batch_size
        self._lease_seconds = lease_seconds
        self._schedule = schedule
        self._unit_random = unit_random

    async def execute(self) -> BatchOutcome:
        claimed = await self._outbox.claim(self._owner, self._batch_size, self._lease_seconds)
        if not claimed:
            return BatchOutcome()
        events = [item.event for item in claimed]
        attempts = max(item.attempts for item in claimed) + 1
        try:
            await self._bus.publish(events)
        except asyncio.CancelledError:
            await asyncio.shield(self._release_interrupted(events))
            raise
        except EventBusUnavailable as error:
            return await self._retry_rest(
                claimed, error.accepted_ids, attempts, error.reason, error.retry_after
            )
        except EventRejected as error:
            await self._mark_delivered(error.accepted_ids)
            return await self._isolate_rejected(claimed, set(error.accepted_ids), attempts)
        except Exception as error:
            logger.exception("the event bus failed unexpectedly; the batch will be retried")
            return await self._retry_rest(claimed, (), attempts, f"unexpected error: {error!r}", None)
        await self._mark_delivered([event.id for event in events])
        return BatchOutcome(
            claimed=len(claimed), delivered=len(claimed), full=len(claimed) >= self._batch_size
        )

    async def _retry_rest(
        self,
        claimed: Sequence[ClaimedEvent],
        accepted_ids: Sequence[str],
        attempts: int,
        reason: str,
        retry_after: float | None,
    ) -> BatchOutcome:
        await self._mark_delivered(accepted_ids)
        accepted = set(accepted_ids)
        rest = [item.event.id for item in claimed if item.event.id not in accepted]
        delay = self._schedule.delay(attempts, retry_after, self._unit_random())
        await self._outbox.retry_later(self._owner, rest, delay, reason)
        logger.warning("the event bus is unavailable (%s); %d events wait %.1f s", reason, len(rest), delay)
        return BatchOutcome(claimed=len(claimed), delivered=len(accepted), retried=len(rest), pause=delay)

    async def _isolate_rejected(
        self, claimed: Sequence[ClaimedEvent], accepted: set[str], attempts: int
    ) -> BatchOutcome:
        """The bus refused the batch: send the rest one by one so only the guilty events die."""
        delivered, dead = len(accepted), 0
        rest = [item.event for item in claimed if item.event.id not in accepted]
        for position, event in enumerate(rest):
            try:
                await self._bus.publish([event])
            except EventRejected as error:
                await self._outbox.dead_letter(self._owner, [event.id], error.reason)
                logger.error("the event bus refused event %s for good: %s", event.id, error.reason)
                dead += 1
                continue
            except EventBusUnavailable as error:
                outcome = await self._retry_rest(
                    [ClaimedEvent(event=e, attempts=attempts - 1) for e in rest[position:]],
                    error.accepted_ids,
                    attempts,
                    error.reason,
                    error.retry_after,
                )
                return BatchOutcome(
                    claimed=len(claimed),
                    delivered=delivered + outcome.delivered,
                    retried=outcome.retried,
                    dead=dead,
                    pause=outcome.pause,
                )
            await self._mark_delivered([event.id])
            delivered += 1
        return BatchOutcome(claimed=len(claimed), delivered=delivered, dead=dead)

    async def _release_interrupted(self, events: Sequence[UserEvent]) -> None:
        """Shutdown cut a publish short: free the events now instead of when their lease runs out."""
        ids = [event.id for event in events]
        await self._outbox.retry_later(self._owner, ids, 0.0, "delivery interrupted by shutdown")

    async def _mark_delivered(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self._outbox.mark_delivered(self._owner, event_ids)
