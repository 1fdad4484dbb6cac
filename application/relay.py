"""The relay: keeps delivering outbox batches until told to stop, and drains on shutdown."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from application.deliver_outbox_events import BatchOutcome, DeliverOutboxEvents

logger = logging.getLogger(__name__)


class OutboxRelay:
    """Runs ``DeliverOutboxEvents`` in a loop.

    It delivers back to back while whole batches are waiting; after a smaller batch it gathers
    for ``gather_interval`` before claiming again, so that under steady load each publish carries
    the events of that interval rather than the few accepted during the last publish (the costs
    of a publish and of its two outbox transactions are per batch, not per event). It sleeps
    ``idle_interval`` when the outbox is empty (``wake`` cuts the sleep short when this process
    accepts an event; other processes' events are found by the next poll), and pauses as long as a
    failed batch asks. It counts as stuck when no turn began for ``stuck_after`` seconds, longer
    than any pause or publish lasts.
    """

    def __init__(
        self,
        deliver: DeliverOutboxEvents,
        *,
        idle_interval: float = 0.5,
        gather_interval: float = 0.0,
        error_pause: float = 1.0,
        stuck_after: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self._idle_interval = idle_interval
        self._gather_interval = gather_interval
        self._error_pause = error_pause
        self._monotonic = monotonic
        self._stuck_after = stuck_after
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_turn = monotonic()

    def wake(self) -> None:
        """New events are waiting: deliver now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop`` is called."""
        while not self._stopping.is_set():
            self._last_turn = self._monotonic()
            outcome = await self._deliver_safely()
            if outcome.claimed and not outcome.pause:
                if not outcome.full and self._gather_interval:
                    await self._sleep_unless_stopped(self._gather_interval)
                continue
            pause = outcome.pause or self._idle_interval
            self._wake.clear()
            if not outcome.pause:
                await self._sleep_unless_woken(pause)
            else:
                await self._sleep_unless_stopped(pause)

    async def probe(self) -> str | None:
        """Stuck when no turn of the loop began for longer than any turn may take."""
        quiet = self._monotonic() - self._last_turn
        if quiet > self._stuck_after:
            return f"the relay has not moved for {quiet:.0f} s"
        return None

    async def drain(self, grace: float) -> None:
        """Deliver what is due for up to ``grace`` seconds; what is left waits in the outbox."""
        deadline = self._monotonic() + grace
        while (remaining := deadline - self._monotonic()) > 0:
            try:
                outcome = await asyncio.wait_for(self._deliver_safely(), remaining)
            except TimeoutError:
                break
            if not outcome.claimed or outcome.pause:
                break

    async def _deliver_safely(self) -> BatchOutcome:
        try:
            return await self._deliver.execute()
        except Exception:
            logger.exception("delivering a batch failed; the relay pauses %.1f s", self._error_pause)
            return BatchOutcome(pause=self._error_pause)

    async def _sleep_unless_woken(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return

    async def _sleep_unless_stopped(self, seconds: float) -> None:
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
