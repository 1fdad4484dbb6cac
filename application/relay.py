"""The relay: delivers outbox batches until told to stop, waits out the bus's outages, drains at shutdown."""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from application.bus_outage import DEFAULT_PROBES, BusOutage, ProbeSchedule
from application.deliver_outbox_events import BatchOutcome, DeliverOutboxEvents
from application.ports import ReadinessProbe

logger = logging.getLogger(__name__)

TRUST_BUS_PROBE_FOR = 10
"""Failed probes of the bus's own in a row that hold real batches back; then a batch goes all the same,
should that probe be wrong."""

DEAD_OWNERS_EVERY = 2.0
"""Seconds between two looks for relays that died holding leases: their events move again within
about this long, without a restart."""


class OutboxRelay:
    """Runs ``DeliverOutboxEvents`` in a loop, and waits for the bus, not for the events, when it fails.

    It delivers back to back while whole batches are waiting; after a smaller batch it gathers
    for ``gather_interval`` before claiming again, so that under steady load each publish carries
    the events of that interval rather than the few accepted during the last publish (the costs
    of a publish and of its two outbox transactions are per batch, not per event). It sleeps
    ``idle_interval`` when the outbox is empty (``wake`` cuts the sleep short when this process
    accepts an event; other processes' events are found by the next poll).

    When the bus fails a batch, the relay probes it as ``probes`` says, one probe at a time: first
    with ``bus_probe`` when there is one (a cheap request, bounded by the schedule's cap), then with
    the next real batch; every ``TRUST_BUS_PROBE_FOR`` failed probes a batch goes all the same. The
    first batch the bus takes (or judges) ends the outage, and everything due goes at full speed;
    ``on_pause`` counts each outage by its cause. The relay counts as stuck when no turn began for
    ``stuck_after`` seconds, longer than any wait or publish lasts.

    Before its first claim the relay marks itself alive in the outbox and releases the leases of
    relays known dead (a previous run of this process, killed); then it looks again every
    ``dead_owners_every`` seconds, at the start of a turn, for siblings that died since.
    """

    def __init__(
        self,
        deliver: DeliverOutboxEvents,
        *,
        bus_probe: ReadinessProbe | None = None,
        probes: ProbeSchedule = DEFAULT_PROBES,
        on_pause: Callable[[str], None] | None = None,
        idle_interval: float = 0.5,
        gather_interval: float = 0.0,
        error_pause: float = 1.0,
        stuck_after: float = 600.0,
        dead_owners_every: float = DEAD_OWNERS_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._deliver = deliver
        self._bus_probe = bus_probe
        self._probe_timeout = probes.cap
        self._outage = BusOutage(probes, on_pause=on_pause, monotonic=monotonic, unit_random=unit_random)
        self._held_back = 0
        self._idle_interval = idle_interval
        self._gather_interval = gather_interval
        self._error_pause = error_pause
        self._monotonic = monotonic
        self._stuck_after = stuck_after
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_turn = monotonic()
        self._dead_owners_every = dead_owners_every
        self._next_dead_owners = self._last_turn

    def wake(self) -> None:
        """New events are waiting: deliver now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop`` is called."""
        await self._hold_ownership()
        while not self._stopping.is_set():
            self._last_turn = self._monotonic()
            if self._last_turn >= self._next_dead_owners:
                await self._release_dead_owners()
            if self._outage.failing and not await self._probe_when_due():
                continue
            self._wake.clear()  # before the claim: an append during this turn still wakes the next
            started = self._monotonic()
            outcome = await self._deliver_safely()
            if outcome is None:
                await self._sleep_unless_stopped(self._error_pause)
                continue
            if outcome.bus_failure is not None:
                self._outage.failed(outcome.bus_failure, started)
                continue
            if outcome.delivered or outcome.dead:  # a bus that judges events takes requests again
                self._outage.recovered()
            elif self._outage.failing:
                self._outage.unproven(started)
            if outcome.claimed:
                if not outcome.full and self._gather_interval:
                    await self._sleep_unless_stopped(self._gather_interval)
                continue
            await self._sleep_unless_woken(self._idle_interval)

    async def probe(self) -> str | None:
        """Not ready while the bus refuses eventgate itself, or when no turn began for too long."""
        quiet = self._monotonic() - self._last_turn
        if quiet > self._stuck_after:
            return f"the relay has not moved for {quiet:.0f} s"
        return self._outage.refusal()

    async def drain(self, grace: float) -> None:
        """Deliver what is due for up to ``grace`` seconds; what is left waits in the outbox.

        Nothing is tried while the bus fails: its events wait for the next start.
        """
        deadline = self._monotonic() + grace
        while not self._outage.failing and (remaining := deadline - self._monotonic()) > 0:
            try:
                outcome = await asyncio.wait_for(self._deliver_safely(), remaining)
            except TimeoutError:
                break
            if outcome is None or not outcome.claimed or outcome.bus_failure is not None:
                break

    async def _probe_when_due(self) -> bool:
        """Wait until the failing bus is due a probe and ask its own probe; ``True`` when a batch may go."""
        await self._sleep_unless_stopped(self._outage.until_next_probe())
        if self._stopping.is_set():
            return False
        if self._bus_probe is None or self._held_back >= TRUST_BUS_PROBE_FOR:
            self._held_back = 0
            return True
        started = self._monotonic()
        try:
            async with asyncio.timeout(self._probe_timeout):
                reason = await self._bus_probe.probe()
        except TimeoutError:
            reason = f"the event bus did not answer a probe within {self._probe_timeout:g} s"
        except Exception as error:
            reason = f"probing the event bus failed: {error!r}"
        if reason is None:
            self._held_back = 0
            return True
        self._held_back += 1
        self._outage.probe_failed(reason, started)
        return False

    async def _hold_ownership(self) -> None:
        try:
            await self._deliver.hold_ownership()
        except Exception:
            logger.exception("the relay could not mark itself alive; should it die, its leases run out")

    async def _release_dead_owners(self) -> None:
        self._next_dead_owners = self._monotonic() + self._dead_owners_every
        try:
            released = await self._deliver.release_dead_owners()
        except Exception as error:
            logger.warning("looking for relays that died failed (%r); the next look tries again", error)
            return
        if released:
            logger.warning("released %d events leased by relays that died; delivering them now", released)

    async def _deliver_safely(self) -> BatchOutcome | None:
        """The batch's outcome; ``None`` when the relay itself failed (the outbox, most likely)."""
        try:
            return await self._deliver.execute()
        except Exception:
            logger.exception("delivering a batch failed; the relay pauses %.1f s", self._error_pause)
            return None

    async def _sleep_unless_woken(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return


@asynccontextmanager
async def relay_running(relay: OutboxRelay, shutdown_grace: float) -> AsyncIterator[OutboxRelay]:
    """The relay's loop as a background task while the context lasts.

    On exit it finishes the batch in flight and delivers what is due for up to ``shutdown_grace``
    seconds in all; whatever is not delivered by then stays in the outbox for the next start.
    """
    task = asyncio.create_task(relay.run(), name="eventgate-relay")
    try:
        yield relay
    finally:
        deadline = time.monotonic() + shutdown_grace
        relay.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), shutdown_grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            await relay.drain(deadline - time.monotonic())
