"""The relay as a background task of a running process: started, then stopped within a grace period."""

import asyncio
import contextlib
import time

from adapters.sqlite_outbox.store import SqliteOutbox
from application.relay import OutboxRelay


class RelayTask:
    """Runs an ``OutboxRelay`` beside the web server (or alone, for ``eventgate relay``)."""

    def __init__(self, relay: OutboxRelay, outbox: SqliteOutbox) -> None:
        self._relay = relay
        outbox.on_append(relay.wake)
        self._task = asyncio.create_task(relay.run(), name="eventgate-relay")

    async def stop(self, grace: float) -> None:
        """Finish the batch in flight and deliver what is due for up to ``grace`` seconds in all.

        Whatever is not delivered by then stays in the outbox for the next start.
        """
        deadline = time.monotonic() + grace
        self._relay.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            return
        await self._relay.drain(deadline - time.monotonic())

    @property
    def relay(self) -> OutboxRelay:
        return self._relay
