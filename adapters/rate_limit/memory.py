"""GCRA rate limiting in process memory, and the GCRA arithmetic both rate-limit adapters share.

GCRA, the generic cell rate algorithm, is a leaky bucket: each request pours ``period / limit``
seconds into its bucket, the bucket drains one second per second, and a request that would make it
hold more than ``period`` is refused (and pours nothing). A full burst of ``limit`` requests is
allowed at once, then one every ``period / limit``. A hit of several requests at once (a batch of
events) pours as much as they would one by one, or nothing when they do not all fit.

Every quantity is an integer, so no rounding can let one request too many through: times are whole
microseconds scaled by ``limit``. With ``P`` the period in microseconds and ``L`` the limit, a
request adds ``P`` to the bucket's level, the level drains by ``L`` per microsecond, and the bucket
holds ``P * L``.

Each ``(key, limit, period)`` is a bucket of its own: the same key under two limits is counted
under each separately, and a changed limit starts fresh buckets.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from application.ports import RateDecision

MAX_TRACKED_KEYS = 100_000
"""Most buckets one ``InMemoryRateLimiter`` tracks unless told otherwise: about 260 bytes each, plus
the key itself, so some 30 MB at most."""

_MICROSECONDS = 1_000_000
_MAX_PERIODS = 64
"""Rates whose period in microseconds is remembered: callers use one or two."""
_FORGET_PER_HIT = 2
"""Drained buckets forgotten per hit at most: more than the one bucket a hit can add, so the
drained ones never pile up, and few enough that no hit pays for a long sweep."""


def period_microseconds(limit: int, period: float) -> int:
    """``period`` in whole microseconds; raises ``ValueError`` unless the limit can be enforced."""
    period_us = round(period * _MICROSECONDS) if math.isfinite(period) else 0
    if limit < 1 or period_us < 1:
        raise ValueError(f"a rate limit needs limit >= 1 and period >= 1 µs, got {limit} per {period} s")
    return period_us


def check_hits(hits: int) -> None:
    if hits < 1:
        raise ValueError(f"a hit counts at least one request, got {hits}")


def gcra_decision(allowed: bool, limit: int, period_us: int, level: int, hits: int = 1) -> RateDecision:
    """The decision on ``hits`` requests, given the bucket's ``level`` after them (unchanged when refused).

    Times are rounded up to the microsecond, so that waiting them out is always enough (for a hit
    the bucket can hold, that is: more than ``limit`` requests at once never fit).
    """
    capacity = period_us * limit
    retry_after_us = 0 if allowed else -(-(level + period_us * hits - capacity) // limit)
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=(capacity - level) // period_us,
        reset_after=-(-level // limit) / _MICROSECONDS,
        retry_after=retry_after_us / _MICROSECONDS,
    )


class InMemoryRateLimiter:
    """GCRA buckets in this process: exact and O(1) per hit, but each process counts on its own.

    ``hit`` never awaits, so under asyncio each hit is atomic without a lock. Buckets are kept least
    recently hit first; each hit forgets drained buckets from the front, so memory follows the keys
    seen within about one period. At most ``max_keys`` buckets are kept: past that, the least
    recently hit bucket is dropped, and that key starts over with its full limit.

    ``clock`` gives monotonic seconds.
    """

    def __init__(
        self, *, max_keys: int = MAX_TRACKED_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self._max_keys = max_keys
        self._clock = clock
        self._empty_at: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        """When each bucket will be empty, in microseconds scaled by its limit."""
        self._periods: dict[tuple[int, float], int] = {}
        """``period_microseconds`` of the few rates in use, worked out once each."""

    def __len__(self) -> int:
        """The number of buckets tracked now."""
        return len(self._empty_at)

    async def hit(self, key: str, limit: int, period: float, hits: int = 1) -> RateDecision:
        check_hits(hits)
        period_us = self._periods.get((limit, period))
        if period_us is None:
            period_us = period_microseconds(limit, period)
            if len(self._periods) < _MAX_PERIODS:
                self._periods[limit, period] = period_us
        now_us = round(self._clock() * _MICROSECONDS)
        now = now_us * limit
        bucket = (key, limit, period_us)
        empty_at = self._empty_at.pop(bucket, now)
        level = empty_at - now if empty_at > now else 0
        poured = period_us * hits
        allowed = level + poured <= period_us * limit
        if allowed:
            level += poured
        self._empty_at[bucket] = now + level
        self._forget(now_us)
        return gcra_decision(allowed, limit, period_us, level, hits)

    def _forget(self, now_us: int) -> None:
        """Drop the least recently hit bucket past ``max_keys``, then a few drained ones."""
        buckets = self._empty_at
        if len(buckets) > self._max_keys:
            buckets.popitem(last=False)
        for _ in range(_FORGET_PER_HIT):
            if not buckets:  # a refused hit of more than its limit leaves its bucket drained
                return
            (_, limit, _), empty_at = next(iter(buckets.items()))
            if empty_at > now_us * limit:
                return
            buckets.popitem(last=False)
