"""Forgetting delivered events once their retention is over: now and then, in chunks, one purge at a time.

Both outbox stores keep a delivered event (its id and request hash) for the retention, so that a late
retry of it stays one event; this is when and how they forget it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

PURGE_CHUNK = 5_000
"""Delivered events forgotten per statement: other writers wait for one chunk, not for the purge."""

PURGE_EVERY_MS = 60_000
"""Milliseconds between two purges: a delivered event is forgotten at most this long after its retention."""


class RetentionPurges:
    """Starts a purge of what was delivered more than ``retention_seconds`` ago when one is due.

    ``forget_chunk(before_ms, limit)`` deletes up to ``limit`` such events and says how many; the purge
    calls it until a chunk comes back short. A chunk failing with one of ``errors`` ends the purge (the
    next one tries again); anything else is a bug, and escapes.
    """

    def __init__(
        self,
        retention_seconds: float,
        clock_ms: Callable[[], int],
        forget_chunk: Callable[[int, int], Awaitable[int]],
        errors: tuple[type[BaseException], ...],
    ) -> None:
        self._retention_ms = int(retention_seconds * 1000)
        self._clock_ms = clock_ms
        self._forget_chunk = forget_chunk
        self._errors = errors
        self._next_ms = 0
        self._running: asyncio.Task[None] | None = None

    def start_when_due(self) -> None:
        """Start a purge in the background, unless one runs or the last began under a minute ago."""
        now = self._clock_ms()
        if now < self._next_ms or self._running is not None:
            return
        self._next_ms = now + PURGE_EVERY_MS
        self._running = asyncio.get_running_loop().create_task(self._purge(now - self._retention_ms))

    async def finish(self) -> None:
        """Wait for the purge under way, if any."""
        if self._running is not None:
            await self._running

    async def _purge(self, before_ms: int) -> None:
        forgotten = PURGE_CHUNK
        try:
            while forgotten == PURGE_CHUNK:
                forgotten = await self._forget_chunk(before_ms, PURGE_CHUNK)
        except self._errors as error:
            logger.warning("delivered events could not be purged (%r); the next purge tries again", error)
        finally:
            self._running = None
