"""While the bus fails: probes a short, capped, jittered interval apart, and one word about it per outage."""

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.bus_outage import BusOutage, ProbeSchedule
from domain.errors import EventBusUnavailable, SenderRefused

KEY_REJECTED = SenderRefused("event key rejected — check INNGEST_EVENT_KEY (HTTP 401)", "event key rejected")


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def outage(clock: ManualClock, pauses: list[str] | None = None, unit_random: float = 1.0) -> BusOutage:
    schedule = ProbeSchedule(first=0.1, cap=1.0, max_retry_after=60.0)
    return BusOutage(
        schedule,
        on_pause=None if pauses is None else pauses.append,
        monotonic=clock,
        unit_random=lambda: unit_random,
    )


@given(
    failures=st.integers(1, 200),
    unit_random=st.floats(0, 1, exclude_max=True),
    retry_after=st.none() | st.floats(0, 10_000),
)
def test_a_probe_interval_is_never_shorter_than_half_its_step_nor_longer_than_the_cap_or_retry_after(
    failures: int, unit_random: float, retry_after: float | None
) -> None:
    schedule = ProbeSchedule(first=0.1, cap=1.0, max_retry_after=60.0)

    interval = schedule.interval(failures, retry_after, unit_random)

    step = min(1.0, 0.1 * 2 ** (failures - 1))
    assert interval >= step / 2
    assert interval <= max(1.0, min(retry_after or 0.0, 60.0))
    if retry_after is not None:
        assert interval >= min(retry_after, 60.0)


def test_probe_intervals_double_from_the_first_up_to_the_cap() -> None:
    schedule = ProbeSchedule(first=0.1, cap=1.0)

    ceilings = [schedule.interval(failures, None, unit_random=1.0) for failures in range(1, 7)]

    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_the_next_probe_is_timed_from_the_start_of_the_attempt_that_failed() -> None:
    clock = ManualClock()
    bus = outage(clock)

    bus.failed(EventBusUnavailable("connection refused"), started_at=clock.now)
    clock.now += 0.05
    assert bus.until_next_probe() == pytest.approx(0.05)

    started = clock.now = 110.0
    clock.now += 5.0  # the probe hung for five seconds before it failed
    bus.failed(EventBusUnavailable("no answer"), started_at=started)
    assert bus.until_next_probe() <= 0


def test_a_retry_after_holds_the_next_probe_back_up_to_its_maximum() -> None:
    clock = ManualClock()
    bus = outage(clock)

    bus.failed(EventBusUnavailable("slow down", retry_after=7.0), started_at=clock.now)
    assert bus.until_next_probe() == pytest.approx(7.0)
    bus.failed(EventBusUnavailable("slow down", retry_after=3600.0), started_at=clock.now)
    assert bus.until_next_probe() == pytest.approx(60.0)


def test_an_outage_is_said_and_counted_once_however_many_probes_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="application.bus_outage")
    clock = ManualClock()
    pauses: list[str] = []
    bus = outage(clock, pauses)

    for _ in range(50):
        bus.failed(EventBusUnavailable("HTTP 503"), started_at=clock.now)
        clock.now += 1

    paused = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.getMessage() for record in paused] == [
        "delivery paused: the event bus is unavailable (HTTP 503). Events stay in the outbox; the relay "
        "probes the bus until it takes them"
    ]
    assert pauses == ["bus unavailable"]


def test_a_refusal_of_eventgate_is_logged_as_an_error_naming_it_and_makes_the_relay_not_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    pauses: list[str] = []
    bus = outage(clock, pauses)

    assert bus.refusal() is None
    for _ in range(3):
        bus.failed(KEY_REJECTED, started_at=clock.now)

    [error] = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert error.levelno == logging.ERROR
    assert error.getMessage().startswith(
        "delivery paused, event key rejected: the event bus refuses eventgate itself (event key rejected — "
        "check INNGEST_EVENT_KEY (HTTP 401))."
    )
    assert pauses == ["event key rejected"]
    assert bus.refusal() == (
        "delivery paused: event key rejected (the event bus refuses eventgate; events wait in the outbox)"
    )


def test_a_new_cause_is_a_new_pause_and_recovery_ends_the_refusal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="application.bus_outage")
    clock = ManualClock()
    pauses: list[str] = []
    bus = outage(clock, pauses)

    bus.failed(EventBusUnavailable("connection refused"), started_at=clock.now)
    bus.failed(KEY_REJECTED, started_at=clock.now)
    clock.now += 12.5
    bus.recovered()
    bus.recovered()

    assert pauses == ["bus unavailable", "event key rejected"]
    assert not bus.failing
    assert bus.refusal() is None
    assert caplog.records[-1].getMessage() == (
        "delivery resumed: the event bus takes events again, after 12.5 s and 2 probes"
    )


def test_a_probe_that_passes_with_nothing_to_send_proves_nothing_and_waits_its_turn() -> None:
    clock = ManualClock()
    bus = outage(clock)
    bus.failed(KEY_REJECTED, started_at=clock.now)

    for _ in range(6):
        bus.unproven(started_at=clock.now)

    assert bus.failing
    assert bus.refusal() is not None
    assert bus.until_next_probe() == pytest.approx(1.0)


def test_a_failed_probe_keeps_a_refusal_as_it_is_but_is_an_outage_of_its_own_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    pauses: list[str] = []
    refused, away = outage(clock, pauses), outage(clock, pauses)
    refused.failed(KEY_REJECTED, started_at=clock.now)

    for _ in range(3):
        refused.probe_failed("NATS is unreachable (Authorization Violation)", started_at=clock.now)
    away.probe_failed("connection refused", started_at=clock.now)

    assert pauses == ["event key rejected", "bus unavailable"]
    assert refused.refusal() is not None
    assert refused.until_next_probe() == pytest.approx(0.8)
    said = [record.levelname for record in caplog.records if record.levelno >= logging.WARNING]
    assert said == ["ERROR", "WARNING"]
