"""RedisRateLimiter against the real Redis on this machine: shared limits, atomicity, expiry, failing open.

Redis must be running at ``REDIS_URL``: without it these tests fail, they are never skipped. Each
test keeps its keys under a prefix of its own and deletes them afterwards.
"""

import asyncio
import logging
import re
import socket
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from dependency_injector import containers, providers
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from adapters.rate_limit import RedisRateLimiter, RedisUnreachable, open_redis_rate_limiter
from application.ports import RateDecision

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"
LOGGER = "adapters.rate_limit.redis"


class ManualClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def server() -> AsyncIterator[Redis]:
    """A plain client of the real Redis, to look at what the limiters store."""
    client = Redis.from_url(REDIS_URL, socket_timeout=5, retry=Retry(NoBackoff(), retries=0))
    try:
        await client.ping()
    except RedisError as error:
        unanswered: RedisError | None = error
    else:
        unanswered = None
    if unanswered is not None:
        await client.aclose()
        pytest.fail(
            f"these tests need the Redis at {REDIS_URL}, which does not answer ({unanswered}); "
            "start it, for example with `redis-server --daemonize yes`",
            pytrace=False,
        )
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(server: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"eventgate-test:{uuid.uuid4().hex}:ratelimit:"
    yield prefix
    keys = [key async for key in server.scan_iter(match=f"{prefix}*")]
    if keys:
        await server.delete(*keys)


async def stored_keys(server: Redis, prefix: str) -> list[bytes]:
    return [key async for key in server.scan_iter(match=f"{prefix}*")]


@pytest.fixture
async def limiters(prefix: str) -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter]]:
    """Two limiters, each with connections of its own, as two processes would have.

    Their timeout is generous, so that a busy test machine cannot turn an exactness test into a
    test of failing open.
    """
    async with (
        open_redis_rate_limiter(REDIS_URL, prefix=prefix, timeout_seconds=5) as first,
        open_redis_rate_limiter(REDIS_URL, prefix=prefix, timeout_seconds=5) as second,
    ):
        yield first, second


async def test_a_burst_of_limit_requests_is_allowed_and_the_next_one_refused(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    limiter, _ = limiters

    decisions = [await limiter.hit("user:1", 5, 60) for _ in range(6)]

    assert [decision.allowed for decision in decisions] == [True] * 5 + [False]
    assert [decision.remaining for decision in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert 11 < refused.retry_after <= 12, "one request drains in 12 s"
    assert 59 < refused.reset_after <= 60


async def test_two_limiters_on_separate_connections_share_one_limit_exactly(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = limiters

    decisions = [await (first, second)[n % 2].hit("user:1", 7, 3600) for n in range(20)]

    assert [decision.allowed for decision in decisions] == [True] * 7 + [False] * 13
    assert [decision.remaining for decision in decisions[:7]] == [6, 5, 4, 3, 2, 1, 0]


async def test_a_hit_of_several_requests_counts_as_that_many_on_every_limiter_sharing_the_bucket(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = limiters

    batch = await first.hit("user:1", 5, 60, hits=3)
    too_many = await second.hit("user:1", 5, 60, hits=3)
    singles = [await second.hit("user:1", 5, 60) for _ in range(3)]

    assert (batch.allowed, batch.remaining) == (True, 2)
    assert (too_many.allowed, too_many.remaining) == (False, 2), "a refused hit uses up nothing"
    assert 11 < too_many.retry_after <= 12, "the three fit once one request drains, in 12 s"
    assert [decision.allowed for decision in singles] == [True, True, False]


async def test_200_concurrent_requests_allow_exactly_the_limit(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = limiters

    decisions = await asyncio.gather(*((first, second)[n % 2].hit("user:1", 50, 3600) for n in range(200)))

    allowed = [decision for decision in decisions if decision.allowed]
    assert len(allowed) == 50
    assert sorted(decision.remaining for decision in allowed) == list(range(50)), "none saw a stale count"


async def test_a_refused_request_is_allowed_once_retry_after_has_passed_on_the_servers_clock(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    limiter, _ = limiters
    for _ in range(2):
        await limiter.hit("user:1", 2, 0.4)

    refused = await limiter.hit("user:1", 2, 0.4)
    await anyio.sleep(refused.retry_after)
    again = await limiter.hit("user:1", 2, 0.4)

    assert not refused.allowed
    assert again.allowed


async def test_a_bucket_expires_when_it_will_have_drained(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter], server: Redis, prefix: str
) -> None:
    limiter, _ = limiters

    await limiter.hit("user:1", 4, 60)
    [key] = await stored_keys(server, prefix)
    after_one = await server.pttl(key)
    for _ in range(3):
        await limiter.hit("user:1", 4, 60)
    after_four = await server.pttl(key)

    assert 14_000 < after_one <= 15_000, "one request of 4 per 60 s drains in 15 s"
    assert 59_000 < after_four <= 60_000


async def test_a_drained_bucket_is_gone_from_redis(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter], server: Redis, prefix: str
) -> None:
    limiter, _ = limiters

    await limiter.hit("user:1", 1, 0.05)
    assert len(await stored_keys(server, prefix)) == 1
    await anyio.sleep(0.1)

    assert await stored_keys(server, prefix) == []


async def test_any_string_is_a_safe_key_and_none_is_stored_in_the_clear(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter], server: Redis, prefix: str
) -> None:
    limiter, _ = limiters
    keys = ["", "addr:::1", "user:" + "x" * 10_000, "user:\udcff", "user:a b\r\n*1\r\n$3", "user:ü", "*"]

    first = [await limiter.hit(key, 1, 60) for key in keys]
    second = [await limiter.hit(key, 1, 60) for key in keys]

    assert all(decision.allowed for decision in first)
    assert not any(decision.allowed for decision in second), "each key is counted in a bucket of its own"
    stored = await stored_keys(server, prefix)
    assert len(stored) == len(keys)
    assert all(re.fullmatch(rb"[0-9a-f]{64}", key.removeprefix(prefix.encode())) for key in stored)


@pytest.mark.parametrize(
    ("limit", "period", "reason"),
    [(0, 60, "a rate limit needs"), (1_000_000, 10_000, "must be at most")],
)
async def test_limits_it_cannot_enforce_exactly_are_refused_not_failed_open(
    limiters: tuple[RedisRateLimiter, RedisRateLimiter], limit: int, period: float, reason: str
) -> None:
    limiter, _ = limiters

    with pytest.raises(ValueError, match=reason):
        await limiter.hit("user:1", limit, period)


async def test_an_unreachable_redis_fails_open_and_warns_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = ManualClock()
    client = Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), retries=0))
    limiter = RedisRateLimiter(client, clock=clock)
    try:
        decisions = [await limiter.hit("user:1", 2, 60) for _ in range(5)]
        clock.now += 5  # Redis is asked again, and fails again: not worth another warning yet
        decisions.append(await limiter.hit("user:1", 2, 60))
        clock.now += 60
        decisions.append(await limiter.hit("user:1", 2, 60))
    finally:
        await client.aclose()

    as_if_empty = RateDecision(allowed=True, limit=2, remaining=1, reset_after=30, retry_after=0)
    assert decisions == [as_if_empty] * 7
    warnings = [record for record in caplog.records if record.name == LOGGER]
    assert [record.levelno for record in warnings] == [logging.WARNING] * 2
    assert "rate limits are not enforced: Redis failed (ConnectionError" in warnings[0].getMessage()
    assert "; 1 requests allowed unchecked" in warnings[0].getMessage()
    assert "; 6 requests allowed unchecked" in warnings[1].getMessage()


async def test_after_a_failure_redis_is_left_alone_for_a_second_then_used_again(
    server: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = ManualClock()
    async with open_redis_rate_limiter(REDIS_URL, prefix=prefix) as probe:
        await probe.hit("user:1", 2, 60)
    [bucket] = await stored_keys(server, prefix)
    await server.set(bucket, "not a bucket")  # the script now fails with WRONGTYPE

    client = Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, prefix=prefix, clock=clock)
    try:
        failed = await limiter.hit("user:1", 2, 60)
        await server.delete(bucket)
        unasked = await limiter.hit("user:1", 2, 60)
        bucket_while_left_alone = await server.exists(bucket)
        clock.now += 1
        asked_again = await limiter.hit("user:1", 2, 60)
    finally:
        await client.aclose()

    assert failed == unasked == asked_again
    assert bucket_while_left_alone == 0, "Redis was not asked"
    assert await server.exists(bucket) == 1, "Redis was asked again"
    failure, recovery = [record for record in caplog.records if record.name == LOGGER]
    assert failure.levelno == logging.WARNING
    assert "(ResponseError: WRONGTYPE" in failure.getMessage()
    assert recovery.levelno == logging.INFO
    assert recovery.getMessage() == (
        "rate limits are enforced again: Redis answers; 1 requests allowed unchecked since the last warning"
    )


async def client_names(server: Redis) -> list[str]:
    return [client["name"] for client in await server.client_list()]


async def test_the_resource_connects_checks_and_closes_its_connections(server: Redis, prefix: str) -> None:
    name = f"eventgate-test-{uuid.uuid4().hex}"

    class RateLimitContainer(containers.DeclarativeContainer):
        rate_limiter = providers.Resource(open_redis_rate_limiter, REDIS_URL, prefix=prefix, client_name=name)

    container = RateLimitContainer()
    starting = container.init_resources()
    assert starting is not None, "an async resource makes initialisation awaitable"
    await starting
    limiter = await container.rate_limiter.async_()
    connected = await client_names(server)
    decision = await limiter.hit("user:1", 1, 60)
    stopping = container.shutdown_resources()
    assert stopping is not None
    await stopping

    assert name in connected, "PING opened a connection at startup"
    assert decision.allowed
    with anyio.fail_after(5):
        while name in await client_names(server):
            await anyio.sleep(0.01)


async def open_and_close(url: str) -> None:
    async with open_redis_rate_limiter(url):
        pass


async def test_the_resource_refuses_to_start_without_redis_and_names_it_without_secrets() -> None:
    port = closed_port()

    with pytest.raises(RedisUnreachable) as raised:
        await open_and_close(f"redis://eventgate:pa55word@127.0.0.1:{port}/0?password=pa55word")

    assert str(raised.value).startswith(f"the Redis at redis://127.0.0.1:{port}/0 does not answer: ")
    assert "pa55word" not in str(raised.value)
