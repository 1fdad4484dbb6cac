"""GCRA rate limiting shared through Redis: one atomic script per hit, on the server's clock.

The script does in Redis what ``InMemoryRateLimiter`` does in memory, with the same integer
arithmetic (see ``adapters.rate_limit.memory``), so both adapters decide identically.
"""

import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from adapters.rate_limit.memory import check_hits, gcra_decision, period_microseconds
from application.ports import RateDecision

KEY_PREFIX = "eventgate:ratelimit:"

logger = logging.getLogger(__name__)

_GCRA_SCRIPT = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local poured = period * tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local level = 0
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
if state[1] then
  local elapsed = math.max(now - tonumber(state[2]), 0)
  level = math.max(tonumber(state[1]) - elapsed * limit, 0)
end
if level + poured > period * limit then
  return {0, level}
end
level = level + poured
redis.call('HSET', KEYS[1], 'level', level, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(level / (limit * 1000)))
return {1, level}
"""
"""A hit against the bucket ``KEYS[1]``: ``ARGV`` is the limit, the period in microseconds and the
number of requests the hit counts.

The bucket is a hash of its level (microseconds scaled by the limit) and the server time it was
measured at, in microseconds; it expires once drained. A clock stepping back drains nothing.
Returns whether the request is allowed, and the level after it.
"""

_MAX_CAPACITY = 2**51
"""Largest ``period_us * limit`` (and ``period_us * hits``): keeps every number in the script an exact
integer in Lua's doubles."""


class RedisUnreachable(Exception):
    """The rate limiter's Redis did not answer at startup."""


class RedisRateLimiter:
    """GCRA buckets in Redis, shared exactly by every process and machine that uses the same Redis.

    Each hit is one EVALSHA round trip (redis-py loads the script again when the server lost it)
    of a script that Redis runs atomically on its own clock. A bucket's Redis key is ``prefix``
    followed by the SHA-256 of its key, limit and period: any string is a safe key, and no key or
    client address is stored in the clear.

    Fail-open: when Redis fails (unreachable, timeout, error reply), the request is allowed as if
    its bucket were empty, because availability matters more than the limit to an analytics
    endpoint. Redis is then left alone for ``recheck_after`` seconds, after which one request asks
    it again, so an outage costs requests no waiting. While it fails, a warning is logged at most
    every ``warn_every`` seconds with the number of requests allowed unchecked, and one info line
    when it answers again. Limits that make no sense still raise ``ValueError``.

    ``clock`` gives monotonic seconds; it paces the rechecks and warnings only.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = KEY_PREFIX,
        recheck_after: float = 1.0,
        warn_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._script = client.register_script(_GCRA_SCRIPT)
        self._prefix = prefix
        self._recheck_after = recheck_after
        self._warn_every = warn_every
        self._clock = clock
        self._failing = False
        self._recheck_at = -math.inf
        self._next_warning_at = -math.inf
        self._unchecked = 0
        """Requests allowed without asking Redis since the last log line."""

    async def hit(self, key: str, limit: int, period: float, hits: int = 1) -> RateDecision:
        period_us = period_microseconds(limit, period)
        check_hits(hits)
        if period_us * max(limit, hits) > _MAX_CAPACITY:
            raise ValueError(
                f"limit (or hits) * period must be at most {_MAX_CAPACITY} µs, got {hits} of {limit} per {period} s"
            )
        if self._failing:
            now = self._clock()
            if now < self._recheck_at:
                return self._allow_unchecked(limit, period_us)
            self._recheck_at = now + self._recheck_after
        try:
            allowed, level = await self._script(
                keys=[self._redis_key(key, limit, period_us)], args=[limit, period_us, hits]
            )
        except (RedisError, OSError) as error:
            decision = self._allow_unchecked(limit, period_us)
            self._failed(error)
            return decision
        if self._failing:
            self._recovered()
        return gcra_decision(allowed == 1, limit, period_us, level, hits)

    def _redis_key(self, key: str, limit: int, period_us: int) -> str:
        bucket = f"{limit}:{period_us}:{key}".encode(errors="surrogatepass")
        return self._prefix + hashlib.sha256(bucket).hexdigest()

    def _allow_unchecked(self, limit: int, period_us: int) -> RateDecision:
        self._unchecked += 1
        return gcra_decision(True, limit, period_us, period_us)

    def _failed(self, error: Exception) -> None:
        now = self._clock()
        self._failing = True
        self._recheck_at = now + self._recheck_after
        if now >= self._next_warning_at:
            self._next_warning_at = now + self._warn_every
            logger.warning(
                "rate limits are not enforced: Redis failed (%s: %s); %d requests allowed unchecked "
                "since the last warning; Redis is asked again every %g s",
                type(error).__name__,
                error,
                self._unchecked,
                self._recheck_after,
            )
            self._unchecked = 0

    def _recovered(self) -> None:
        self._failing = False
        logger.info(
            "rate limits are enforced again: Redis answers; %d requests allowed unchecked since the "
            "last warning",
            self._unchecked,
        )
        self._unchecked = 0


@asynccontextmanager
async def open_redis_rate_limiter(
    url: str,
    *,
    prefix: str = KEY_PREFIX,
    timeout_seconds: float = 0.25,
    max_connections: int = 32,
    client_name: str = "eventgate-rate-limit",
) -> AsyncIterator[RedisRateLimiter]:
    """Connect to the Redis at ``url``, check that it answers PING, and close the connections on exit.

    A Redis that does not answer at startup raises ``RedisUnreachable``: a wrong URL or password is
    better found at deploy than as limits silently never enforced. ``timeout_seconds`` bounds each
    connect, each command and the wait for one of the ``max_connections`` pooled connections. A
    broken connection is retried once on a fresh one; a timeout never is, since the script may have
    counted the request already.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        client_name=client_name,
    )
    client = Redis.from_pool(pool)
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as error:
            message = f"the Redis at {_without_secrets(url)} does not answer: {error}"
            raise RedisUnreachable(message) from error
        yield RedisRateLimiter(client, prefix=prefix)
    finally:
        await client.aclose()


def _without_secrets(url: str) -> str:
    """``url`` without its user, password and query (which may carry a password too)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
