"""Move one batch of events from the outbox to the bus, and decide the fate of each event."""

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from application.ports import ClaimedEvent, EncodedEvent, EncodedEventBusPort, OutboxPort
from domain.backoff import full_jitter_delay
from domain.errors import EventBusUnavailable, EventRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch came to."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    full: bool = False
    """A whole batch was claimed: more events may be waiting already."""
    bus_failure: EventBusUnavailable | None = None
    """The bus failed the batch (it is down, or refuses eventgate): the relay waits for the bus."""


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Backoff for events whose own delivery failed: exponential from ``base``, at most ``cap`` seconds.

    An outage of the bus is not the events' failure: they stay due, and the relay waits for the bus.
    """

    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempts: int, unit_random: float) -> float:
        return full_jitter_delay(attempts, base=self.base, cap=self.cap, unit_random=unit_random)


DEFAULT_SCHEDULE = RetrySchedule()


class DeliverOutboxEvents:
    """Claim due events, publish them in one batch, and record each one's outcome in the outbox.

    The events go to the bus as the outbox stored them, encoded: nothing is decoded or encoded again.

    Nothing is dropped. Delivered events are marked. When the bus fails a batch without judging
    its events (``EventBusUnavailable``, ``SenderRefused``) they are released, due at once, and the
    outcome says the bus failed. Events the bus refused for good are found by sending the batch
    again one event at a time, and only they are dead-lettered, with the bus's reason. Events whose
    publish failed in a way no bus should (an error of the adapter's, most likely over what these
    events hold) wait their own retry time, so that the events behind them go on.
    """

    def __init__(
        self,
        outbox: OutboxPort,
        bus: EncodedEventBusPort,
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

    async def hold_ownership(self) -> None:
        """Mark this relay alive in the outbox, so that should it die its leases are released at once."""
        await self._outbox.hold_owner(self._owner)

    async def release_dead_owners(self) -> int:
        """Free the events of relays known dead now, rather than when their leases run out."""
        return await self._outbox.release_dead_owners()

    async def execute(self) -> BatchOutcome:
        claimed = await self._outbox.claim(self._owner, self._batch_size, self._lease_seconds)
        if not claimed:
            return BatchOutcome()
        events = [item.event for item in claimed]
        try:
            await self._bus.publish_encoded(events)
        except asyncio.CancelledError:
            await asyncio.shield(self._release_interrupted(events))
            raise
        except EventBusUnavailable as error:
            outcome = await self._wait_for_the_bus(claimed, error)
        except EventRejected as error:
            await self._mark_delivered(error.accepted_ids)
            outcome = await self._isolate_rejected(claimed, set(error.accepted_ids))
        except Exception as error:
            logger.exception(
                "the event bus failed unexpectedly; %d events wait their retry time", len(events)
            )
            outcome = await self._retry_later(claimed, f"unexpected error: {error!r}")
        else:
            await self._mark_delivered([event.id for event in events])
            outcome = BatchOutcome(claimed=len(claimed), delivered=len(claimed))
        return replace(outcome, full=len(claimed) >= self._batch_size)

    async def _wait_for_the_bus(
        self, claimed: Sequence[ClaimedEvent], error: EventBusUnavailable
    ) -> BatchOutcome:
        """The bus failed, not the events: those it did not take are due again at once."""
        await self._mark_delivered(error.accepted_ids)
        accepted = set(error.accepted_ids)
        rest = [item.event.id for item in claimed if item.event.id not in accepted]
        await self._outbox.retry_later(self._owner, rest, 0.0, error.reason)
        return BatchOutcome(
            claimed=len(claimed), delivered=len(accepted), retried=len(rest), bus_failure=error
        )

    async def _retry_later(self, claimed: Sequence[ClaimedEvent], reason: str) -> BatchOutcome:
        """These events' own delivery failed: they wait a retry time, from the most attempts among them."""
        attempts = max(item.attempts for item in claimed) + 1
        delay = self._schedule.delay(attempts, self._unit_random())
        await self._outbox.retry_later(self._owner, [item.event.id for item in claimed], delay, reason)
        return BatchOutcome(claimed=len(claimed), retried=len(claimed))

    async def _isolate_rejected(self, claimed: Sequence[ClaimedEvent], accepted: set[str]) -> BatchOutcome:
        """The bus refused the batch: send the rest one by one so only the guilty events die."""
        delivered, dead, retried = len(accepted), 0, 0
        rest = [item for item in claimed if item.event.id not in accepted]
        for position, item in enumerate(rest):
            try:
                await self._bus.publish_encoded([item.event])
            except EventRejected as error:
                await self._outbox.dead_letter(self._owner, [item.event.id], error.reason)
                logger.error("the event bus refused event %s for good: %s", item.event.id, error.reason)
                dead += 1
                continue
            except EventBusUnavailable as error:
                outcome = await self._wait_for_the_bus(rest[position:], error)
                return replace(
                    outcome, claimed=len(claimed), delivered=delivered + outcome.delivered, dead=dead
                )
            except Exception as error:
                logger.exception("the event bus failed unexpectedly on event %s", item.event.id)
                retried += (await self._retry_later([item], f"unexpected error: {error!r}")).retried
                continue
            await self._mark_delivered([item.event.id])
            delivered += 1
        return BatchOutcome(claimed=len(claimed), delivered=delivered, retried=retried, dead=dead)

    async def _release_interrupted(self, events: Sequence[EncodedEvent]) -> None:
        """Shutdown cut a publish short: free the events now instead of when their lease runs out."""
        ids = [event.id for event in events]
        await self._outbox.retry_later(self._owner, ids, 0.0, "delivery interrupted by shutdown")

    async def _mark_delivered(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self._outbox.mark_delivered(self._owner, event_ids)
