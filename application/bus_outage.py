"""While the bus fails: when the relay probes it next, and what is said about it, once per outage.

An outage is the bus's, not the events': the relay keeps the events due and waits for the bus
instead, probing it one probe at a time, a short and capped interval apart, so that the first
probe after the bus is back finds it, and delivery goes on at full speed from there.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import EventBusUnavailable, SenderRefused

logger = logging.getLogger(__name__)

UNAVAILABLE = "bus unavailable"
"""The cause of an outage in which the bus cannot take events (rather than refusing eventgate)."""


@dataclass(frozen=True, slots=True)
class ProbeSchedule:
    """How far apart the probes of a failing bus are: from ``first`` seconds, doubling up to ``cap``.

    Each interval is drawn from its upper half: relays that failed together spread out, and none
    probes in a tight loop. A ``Retry-After`` from the bus is honoured, up to ``max_retry_after``.
    ``cap`` also bounds how long the bus's own probe may take.
    """

    first: float = 0.1
    cap: float = 1.0
    max_retry_after: float = 60.0

    def interval(self, failures: int, retry_after: float | None, unit_random: float) -> float:
        """Seconds from the start of the ``failures``-th failed attempt in a row to the next probe."""
        ceiling = min(self.cap, self.first * 2.0 ** min(failures - 1, 64))
        return max(ceiling * (0.5 + 0.5 * unit_random), min(retry_after or 0.0, self.max_retry_after))


DEFAULT_PROBES = ProbeSchedule()


class BusOutage:
    """Whether the bus is failing, as the relay saw it, and since when; says so once per outage.

    ``on_pause`` is called with the cause each time delivery pauses, or pauses for another cause:
    ``bus unavailable``, or the ``cause`` of a ``SenderRefused`` (``event key rejected``).
    """

    def __init__(
        self,
        schedule: ProbeSchedule = DEFAULT_PROBES,
        *,
        on_pause: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._schedule = schedule
        self._on_pause = on_pause
        self._monotonic = monotonic
        self._unit_random = unit_random
        self._cause: str | None = None
        self._refused = False
        self._since = 0.0
        self._failures = 0
        self._next_probe_at = 0.0

    @property
    def failing(self) -> bool:
        return self._cause is not None

    def failed(self, error: EventBusUnavailable, started_at: float) -> None:
        """A batch, or a probe, begun at ``started_at`` (monotonic seconds) failed with ``error``."""
        if isinstance(error, SenderRefused):
            cause, refused = error.cause, True
        else:
            cause, refused = UNAVAILABLE, False
        if cause != self._cause:
            if self._cause is None:
                self._since = started_at
            self._cause, self._refused = cause, refused
            self._say_paused(error, cause, refused)
            if self._on_pause is not None:
                self._on_pause(cause)
        else:
            logger.debug("the event bus still fails: %s", error.reason)
        self._schedule_probe(started_at, error.retry_after)

    def probe_failed(self, reason: str, started_at: float) -> None:
        """The bus's own probe, begun at ``started_at``, failed with ``reason``.

        A probe cannot tell a bus that refuses eventgate from one that is away (a broker that rejects
        the credentials cannot be connected to either): a refusal stands until a batch shows otherwise.
        """
        if not self._refused:
            self.failed(EventBusUnavailable(reason), started_at)
            return
        logger.debug("the event bus still fails its probe: %s", reason)
        self._schedule_probe(started_at, None)

    def unproven(self, started_at: float) -> None:
        """The probe begun at ``started_at`` passed, but nothing was due to prove the bus with."""
        self._schedule_probe(started_at, None)

    def recovered(self) -> None:
        """The bus took events: delivery goes on at full speed."""
        if self._cause is None:
            return
        logger.info(
            "delivery resumed: the event bus takes events again, after %.1f s and %d probes",
            self._monotonic() - self._since,
            self._failures,
        )
        self._cause, self._refused, self._failures = None, False, 0

    def until_next_probe(self) -> float:
        """Seconds to wait before probing the failing bus again; zero or less when it is time."""
        return self._next_probe_at - self._monotonic()

    def refusal(self) -> str | None:
        """While the bus refuses eventgate itself: why delivery is paused, safe to show anyone."""
        if not self._refused:
            return None
        return f"delivery paused: {self._cause} (the event bus refuses eventgate; events wait in the outbox)"

    def _schedule_probe(self, started_at: float, retry_after: float | None) -> None:
        self._failures += 1
        interval = self._schedule.interval(self._failures, retry_after, self._unit_random())
        self._next_probe_at = started_at + interval

    @staticmethod
    def _say_paused(error: EventBusUnavailable, cause: str, refused: bool) -> None:
        if refused:
            logger.error(
                "delivery paused, %s: the event bus refuses eventgate itself (%s). Events stay in the "
                "outbox; the relay probes the bus until it takes them, and the service is not ready "
                "meanwhile",
                cause,
                error.reason,
            )
        else:
            logger.warning(
                "delivery paused: the event bus is unavailable (%s). Events stay in the outbox; the relay "
                "probes the bus until it takes them",
                error.reason,
            )
