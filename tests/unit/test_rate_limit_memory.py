"""InMemoryRateLimiter: GCRA decisions exact to the microsecond, and memory that stays bounded."""

import math
from bisect import bisect_left

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.rate_limit.memory import MAX_TRACKED_KEYS, InMemoryRateLimiter
from application.ports import RateDecision

pytestmark = pytest.mark.anyio

START_US = 10**12
"""Where the manual clock starts: a monotonic clock some eleven days after boot."""


class ManualClock:
    """Monotonic seconds that move only when told to, kept in whole microseconds."""

    def __init__(self) -> None:
        self.now_us = START_US

    def __call__(self) -> float:
        return self.now_us / 1_000_000

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * 1_000_000)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(clock: ManualClock) -> InMemoryRateLimiter:
    return InMemoryRateLimiter(clock=clock)


async def test_a_burst_of_limit_requests_is_allowed_and_the_next_one_refused(
    limiter: InMemoryRateLimiter,
) -> None:
    decisions = [await limiter.hit("user:1", 5, 60) for _ in range(6)]

    assert [decision.allowed for decision in decisions] == [True] * 5 + [False]
    assert [decision.remaining for decision in decisions] == [4, 3, 2, 1, 0, 0]


async def test_after_the_burst_requests_at_the_steady_rate_are_all_allowed(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    for _ in range(10):
        await limiter.hit("user:1", 10, 1)

    steady = []
    for _ in range(100):
        clock.advance(0.1)
        steady.append((await limiter.hit("user:1", 10, 1)).allowed)

    assert all(steady)
    assert not (await limiter.hit("user:1", 10, 1)).allowed, "one more than the steady rate is refused"


async def test_refused_requests_use_up_none_of_the_limit(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    for _ in range(3):
        await limiter.hit("user:1", 3, 60)
    for _ in range(1000):
        assert not (await limiter.hit("user:1", 3, 60)).allowed

    clock.advance(20)

    assert (await limiter.hit("user:1", 3, 60)).allowed, "the refusals did not push the next request back"


async def test_remaining_reset_after_and_retry_after_are_exact(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    # 3 per 60 s: a request fills the bucket by 20 s, and it holds 60 s.
    script = [
        (0, RateDecision(allowed=True, limit=3, remaining=2, reset_after=20, retry_after=0)),
        (0, RateDecision(allowed=True, limit=3, remaining=1, reset_after=40, retry_after=0)),
        (0, RateDecision(allowed=True, limit=3, remaining=0, reset_after=60, retry_after=0)),
        (0, RateDecision(allowed=False, limit=3, remaining=0, reset_after=60, retry_after=20)),
        (5, RateDecision(allowed=False, limit=3, remaining=0, reset_after=55, retry_after=15)),
        (15, RateDecision(allowed=True, limit=3, remaining=0, reset_after=60, retry_after=0)),
        (30, RateDecision(allowed=True, limit=3, remaining=0, reset_after=50, retry_after=0)),
        (60, RateDecision(allowed=True, limit=3, remaining=2, reset_after=20, retry_after=0)),
    ]

    for advance, expected in script:
        clock.advance(advance)
        assert await limiter.hit("user:1", 3, 60) == expected


async def test_times_are_rounded_up_to_the_microsecond(limiter: InMemoryRateLimiter) -> None:
    # 3 per 10 µs: each request fills the bucket by 3⅓ µs.
    first = await limiter.hit("user:1", 3, 0.000_01)
    for _ in range(2):
        await limiter.hit("user:1", 3, 0.000_01)
    refused = await limiter.hit("user:1", 3, 0.000_01)

    assert first.reset_after == 0.000_004
    assert (refused.allowed, refused.retry_after, refused.reset_after) == (False, 0.000_004, 0.000_01)


async def test_a_hit_of_several_requests_counts_as_that_many_or_as_none_when_they_do_not_all_fit(
    limiter: InMemoryRateLimiter,
) -> None:
    batch = await limiter.hit("user:1", 5, 60, hits=3)
    too_many = await limiter.hit("user:1", 5, 60, hits=3)
    singles = [await limiter.hit("user:1", 5, 60) for _ in range(3)]

    assert (batch.allowed, batch.remaining) == (True, 2)
    assert (too_many.allowed, too_many.remaining) == (False, 2), "a refused hit uses up nothing"
    assert [decision.allowed for decision in singles] == [True, True, False]


async def test_a_refused_hit_of_several_requests_says_when_all_of_them_fit(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    # 3 per 60 s: each request fills the bucket by 20 s; two of them by 40 s, of the 60 s it holds.
    await limiter.hit("user:1", 3, 60, hits=2)
    refused = await limiter.hit("user:1", 3, 60, hits=2)
    clock.advance(refused.retry_after)

    assert refused.retry_after == 20
    assert (await limiter.hit("user:1", 3, 60, hits=2)).allowed


async def test_more_requests_at_once_than_the_limit_are_never_allowed(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    assert not (await limiter.hit("user:1", 3, 60, hits=4)).allowed
    clock.advance(3600)
    assert not (await limiter.hit("user:1", 3, 60, hits=4)).allowed
    assert (await limiter.hit("user:1", 3, 60, hits=3)).allowed


@given(hits=st.integers(max_value=0))
async def test_a_hit_of_no_request_is_refused_as_a_programming_error(hits: int) -> None:
    with pytest.raises(ValueError, match="at least one request"):
        await InMemoryRateLimiter().hit("user:1", 3, 60, hits=hits)


async def test_each_key_and_each_limit_has_a_bucket_of_its_own(limiter: InMemoryRateLimiter) -> None:
    for _ in range(2):
        await limiter.hit("user:a", 2, 60)

    assert not (await limiter.hit("user:a", 2, 60)).allowed
    assert (await limiter.hit("user:b", 2, 60)).allowed
    assert (await limiter.hit("addr:a", 2, 60)).allowed
    assert (await limiter.hit("user:a", 5, 60)).allowed, "the same key under another limit counts apart"
    assert (await limiter.hit("user:a", 2, 30)).allowed, "the same key under another period counts apart"


async def test_drained_buckets_are_forgotten_so_memory_follows_only_the_active_keys(
    limiter: InMemoryRateLimiter, clock: ManualClock
) -> None:
    tracked = []
    for n in range(20_000):
        await limiter.hit(f"addr:{n}", 2, 2)  # drains one second after its only request
        tracked.append(len(limiter))
        clock.advance(0.001)

    assert max(tracked) == 1000, "only the keys of the last second are kept"


async def test_past_max_keys_the_least_recently_hit_bucket_is_dropped_and_starts_over(
    clock: ManualClock,
) -> None:
    limiter = InMemoryRateLimiter(max_keys=3, clock=clock)
    for key in ("a", "b", "c", "a", "d"):
        await limiter.hit(key, 2, 60)

    assert len(limiter) == 3
    assert (await limiter.hit("b", 2, 60)).remaining == 1, "b was dropped, so it starts over"
    assert not (await limiter.hit("a", 2, 60)).allowed, "a, hit again lately, was kept"


async def test_a_flood_of_distinct_addresses_never_holds_more_than_max_keys_buckets(
    limiter: InMemoryRateLimiter,
) -> None:
    for n in range(MAX_TRACKED_KEYS + 1000):
        await limiter.hit(f"addr:{n}", 10, 3600)

    assert len(limiter) == MAX_TRACKED_KEYS


@pytest.mark.parametrize(
    ("limit", "period"),
    [(0, 60), (-1, 60), (1, 0), (1, -1), (1, 0.000_000_1), (1, math.nan), (1, math.inf)],
)
async def test_limits_that_cannot_be_enforced_are_refused(
    limiter: InMemoryRateLimiter, limit: int, period: float
) -> None:
    with pytest.raises(ValueError, match="a rate limit needs"):
        await limiter.hit("user:1", limit, period)


def test_a_limiter_that_could_track_no_key_is_refused() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        InMemoryRateLimiter(max_keys=0)


Schedule = tuple[int, int, list[tuple[int, str]]]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    """A limit, a period in microseconds, and requests as (microseconds from the start, key), in order.

    Gaps are often zero (bursts) or near ``period / limit`` (the boundaries of the steady rate).
    """
    limit = draw(st.integers(1, 6))
    period_us = draw(st.integers(1, 10_000))
    step = period_us // limit
    gaps = st.one_of(
        st.just(0), st.sampled_from([max(step - 1, 0), step, step + 1]), st.integers(0, 2 * period_us)
    )
    requests = []
    now = 0
    for gap, key in draw(st.lists(st.tuples(gaps, st.sampled_from("ab")), max_size=60)):
        now += gap
        requests.append((now, key))
    return limit, period_us, requests


async def replayed(schedule: Schedule) -> tuple[InMemoryRateLimiter, ManualClock, list[RateDecision]]:
    """A limiter that has seen the schedule's requests, its clock, and its decisions on them."""
    limit, period_us, requests = schedule
    clock = ManualClock()
    limiter = InMemoryRateLimiter(clock=clock)
    decisions = []
    for at, key in requests:
        clock.now_us = START_US + at
        decisions.append(await limiter.hit(key, limit, period_us / 1_000_000))
    return limiter, clock, decisions


@given(schedules())
def test_a_request_is_allowed_exactly_when_the_allowed_ones_stay_within_the_gcra_bound(
    schedule: Schedule,
) -> None:
    """The bound: any ``n`` requests allowed for one key from ``t_i`` to ``t_j`` (both included) obey
    ``n <= limit + (t_j - t_i) * limit / period``: a full burst, then one per ``period / limit``.

    So a window of length ``period`` (start included, end excluded) never holds more than
    ``2 * limit - 1`` allowed requests. GCRA allows a request exactly when the bound still holds with
    it, so it never refuses one it could allow either.
    """
    limit, period_us, requests = schedule
    _, _, decisions = anyio.run(replayed, schedule)

    allowed_at: dict[str, list[int]] = {"a": [], "b": []}
    for (at, key), decision in zip(requests, decisions, strict=True):
        earlier = allowed_at[key]
        within_bound = all(
            (len(earlier) - i + 1 - limit) * period_us <= (at - since) * limit
            for i, since in enumerate(earlier)
        )
        assert decision.allowed == within_bound
        assert 0 <= decision.remaining < limit
        assert (decision.retry_after > 0) != decision.allowed
        assert 0 < decision.reset_after <= period_us / 1_000_000
        if decision.allowed:
            earlier.append(at)

    for times in allowed_at.values():
        for i, start in enumerate(times):
            assert bisect_left(times, start + period_us) - i <= 2 * limit - 1


@given(schedules())
def test_waiting_retry_after_is_exactly_enough_for_the_next_request(schedule: Schedule) -> None:
    limit, period_us, _ = schedule
    period = period_us / 1_000_000

    async def check() -> None:
        limiter, clock, _ = await replayed(schedule)
        decision = await limiter.hit("a", limit, period)
        while decision.allowed:
            decision = await limiter.hit("a", limit, period)

        clock.now_us += round(decision.retry_after * 1_000_000) - 1
        assert not (await limiter.hit("a", limit, period)).allowed
        clock.now_us += 1
        assert (await limiter.hit("a", limit, period)).allowed

    anyio.run(check)


@given(schedules(), st.booleans())
def test_waiting_reset_after_is_exactly_enough_for_the_full_limit_again(
    schedule: Schedule, one_microsecond_early: bool
) -> None:
    limit, period_us, _ = schedule
    period = period_us / 1_000_000

    async def check() -> None:
        limiter, clock, _ = await replayed(schedule)
        decision = await limiter.hit("a", limit, period)

        clock.now_us += round(decision.reset_after * 1_000_000) - int(one_microsecond_early)
        after_the_wait = await limiter.hit("a", limit, period)
        never_seen = await limiter.hit("a key never seen", limit, period)

        assert (after_the_wait == never_seen) is not one_microsecond_early

    anyio.run(check)
