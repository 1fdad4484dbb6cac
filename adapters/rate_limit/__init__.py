"""Rate limiting (``RateLimiterPort``) with GCRA: in process memory, or shared through Redis.

Wiring: ``InMemoryRateLimiter()`` needs nothing; ``open_redis_rate_limiter(url)`` is the resource
(for ``providers.Resource``) that connects, checks and closes the ``RedisRateLimiter``.
"""

from adapters.rate_limit.memory import MAX_TRACKED_KEYS, InMemoryRateLimiter
from adapters.rate_limit.redis import (
    KEY_PREFIX,
    RedisRateLimiter,
    RedisUnreachable,
    open_redis_rate_limiter,
)

__all__ = [
    "KEY_PREFIX",
    "MAX_TRACKED_KEYS",
    "InMemoryRateLimiter",
    "RedisRateLimiter",
    "RedisUnreachable",
    "open_redis_rate_limiter",
]
