"""When to try again: exponential backoff with full jitter, bounded by attempts and a deadline.

The SDKs retry five times with ``0.1 s * 2**n`` plus up to 0.1 s of jitter and ignore
``Retry-After``. Here the delay is drawn uniformly from ``[0, min(max_delay, base_delay * 2**n))``
("full jitter", which spreads many clients that failed together), the server's ``Retry-After``
wins when it says how long to wait, and no wait reaches past the deadline of the whole publish,
which also cuts short a request still in flight when it passes.
"""

import asyncio
import datetime
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.backoff import full_jitter_delay


@dataclass(frozen=True, slots=True)
class Clock:
    """Time and chance as the retry loop sees them; tests replace them to run without waiting."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    unit_random: Callable[[], float] = random.random


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to keep trying one publish. Times are in seconds."""

    max_attempts: int = 5
    deadline: float = 20.0
    base_delay: float = 0.1
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("deadline", "base_delay", "max_delay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")

    def backoff(self, retry: int, unit_random: float) -> float:
        """The delay before retry number ``retry`` (1 is the first) for ``unit_random`` in [0, 1)."""
        return full_jitter_delay(retry, base=self.base_delay, cap=self.max_delay, unit_random=unit_random)

    def start(self, clock: Clock) -> "RetryBudget":
        """Start the clock on one publish."""
        return RetryBudget(self, clock)


class RetryBudget:
    """What one publish has left: its deadline, shared by every request it makes."""

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._deadline_at = clock.monotonic() + policy.deadline

    def remaining(self) -> float:
        """Seconds until the deadline; zero or less once it has passed."""
        return self._deadline_at - self._clock.monotonic()

    def delay_before_retry(self, attempts_made: int, retry_after: float | None) -> float | None:
        """How long to wait before the next attempt, or ``None`` when there must be no next attempt.

        ``attempts_made`` counts the attempts of the request being retried. A ``retry_after`` that
        reaches past the deadline ends the retries: waiting for it would leave no time to send.
        """
        if attempts_made >= self._policy.max_attempts:
            return None
        if retry_after is None:
            delay = self._policy.backoff(attempts_made, self._clock.unit_random())
        else:
            delay = retry_after
        return delay if delay < self.remaining() else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (RFC 9110 §10.2.3), or ``None``.

    The header holds either delay-seconds or an HTTP-date in any of the three formats recipients
    must accept, all in GMT; ``now`` is the wall-clock time in Unix seconds that a date is measured
    from. A date in the past means "now" (zero). Other values are ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return max(0.0, moment.timestamp() - now)
