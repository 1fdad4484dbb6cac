"""Backoff, the retry budget of a publish, and reading Retry-After."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.inngest.retry import Clock, RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 6, 8, 49, 37, tzinfo=UTC)


class ManualClock:
    """A monotonic clock that moves only when told, and a random source that returns a set value."""

    def __init__(self, unit_random: float = 0.5) -> None:
        self.now = 100.0
        self.unit_random = unit_random

    def monotonic(self) -> float:
        return self.now

    def random(self) -> float:
        return self.unit_random

    def as_clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, unit_random=self.random)


@given(
    retry=st.integers(min_value=1, max_value=10_000),
    unit_random=st.floats(min_value=0, max_value=1, exclude_max=True),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=600),
)
def test_backoff_stays_between_zero_and_the_cap(
    retry: int, unit_random: float, base: float, cap: float
) -> None:
    delay = RetryPolicy(base_delay=base, max_delay=cap).backoff(retry, unit_random)

    assert 0 <= delay <= cap


def test_backoff_doubles_its_ceiling_with_each_retry_until_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    almost_one = 1 - 1e-12

    ceilings = [round(policy.backoff(retry, almost_one), 6) for retry in range(1, 7)]

    assert ceilings == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_is_fully_jittered_down_to_zero() -> None:
    assert RetryPolicy().backoff(5, 0.0) == 0.0


@pytest.mark.parametrize(
    "policy",
    [
        {"max_attempts": 0},
        {"deadline": 0},
        {"deadline": float("inf")},
        {"base_delay": -1},
        {"max_delay": float("nan")},
    ],
)
def test_a_policy_that_cannot_work_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**policy)


def test_retries_until_the_last_attempt() -> None:
    budget = RetryPolicy(max_attempts=3).start(ManualClock().as_clock())

    assert budget.delay_before_retry(1, None) is not None
    assert budget.delay_before_retry(2, None) is not None
    assert budget.delay_before_retry(3, None) is None


def test_draws_the_delay_from_the_jittered_backoff() -> None:
    budget = RetryPolicy(base_delay=1, max_delay=10).start(ManualClock(unit_random=0.25).as_clock())

    assert budget.delay_before_retry(3, None) == 1.0


def test_retry_after_replaces_the_backoff() -> None:
    budget = RetryPolicy(max_delay=1).start(ManualClock().as_clock())

    assert budget.delay_before_retry(1, 4.0) == 4.0


def test_does_not_wait_for_a_retry_after_that_reaches_past_the_deadline() -> None:
    budget = RetryPolicy(deadline=10).start(ManualClock().as_clock())

    assert budget.delay_before_retry(1, 10.0) is None


def test_the_deadline_is_shared_by_every_request_of_a_publish() -> None:
    clock = ManualClock()
    budget = RetryPolicy(deadline=10, base_delay=1, max_delay=1).start(clock.as_clock())

    clock.now += 9.4
    assert budget.remaining() == pytest.approx(0.6)
    assert budget.delay_before_retry(1, None) == 0.5
    clock.now += 0.6
    assert budget.remaining() == pytest.approx(0)
    assert budget.delay_before_retry(1, None) is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Friday, 06-Nov-26 08:50:07 GMT", 30.0),
        ("Fri Nov  6 08:50:07 2026", 30.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
    ],
)
def test_reads_retry_after_as_delay_seconds_or_any_http_date_format(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW.timestamp()) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "soon", "-1", "1.5", "1e3", "٣"])
def test_ignores_a_retry_after_that_is_neither_delay_seconds_nor_a_date(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW.timestamp()) is None
