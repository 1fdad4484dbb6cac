"""Fresh delivery, proven on the real service: events are late by the bus's outages, not by minutes.

Each scenario runs ``eventgate serve`` against the flapping event API (``flapping_bus.py``, a process
of its own) under a steady load of 800 events a second, and times every event from its
acknowledgement to its arrival. ``EVENTGATE_SOAK_CYCLES`` and ``EVENTGATE_SOAK_SCALE`` lengthen
the soak (``make soak``).

An event the bus acknowledged in the instant before a ``kill -9``, before the outbox could note it,
is sent again after the restart: the outbox delivers at least once, and Inngest deduplicates by
event id. The soak tells those apart from any other duplicate, of which there must be none.
"""

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.reliability.freshness import (
    BusRecord,
    flapping_bus,
    paced_load,
    percentiles,
    recoveries,
    steady_latencies,
    tally,
)
from tests.reliability.harness import LoadResult, Service, drive_load, free_port, report, wait_until

RATE = 800
OUTAGES: list[tuple[str, float]] = [
    ("up", 6),
    ("down", 4),
    ("up", 6),
    ("500", 4),
    ("up", 6),
    ("hang", 4),
    ("up", 6),
    ("down", 30),
    ("up", 6),
]
"""Each kind of outage, short, then one long enough for a growing backoff to sleep through the return."""
SOAK_CYCLE: list[tuple[str, float]] = [("up", 8), ("down", 4), ("up", 8), ("500", 4), ("up", 8), ("hang", 4)]
"""The flapping of the issue's soak (up 40 s, down 20 s, 500s 15 s, black hole 15 s), shorter."""


@pytest.fixture
def service(tmp_path: Path) -> Service:
    """The service as the harness configures it, but with the relay's default retry cap of 60 s."""
    service = Service(folder=tmp_path / "outbox", inngest_port=free_port())
    service.environment["EVENTGATE_RELAY_RETRY_CAP"] = "60"
    return service


def schedule_text(phases: list[tuple[str, float]]) -> str:
    return ",".join(f"{name}:{seconds:g}" for name, seconds in phases)


def pending_events(service: Service) -> float:
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    [value] = [
        line.split()[-1]
        for line in metrics.splitlines()
        if line.startswith("eventgate_outbox_pending_events ")
    ]
    return float(value)


@dataclass
class Run:
    record: BusRecord
    load: LoadResult
    killed_at: float | None = None
    """When the killed service was dead and reaped, in wall-clock seconds: it sent nothing after, and
    the bus had the time to take what it sent before (stamped before the kill, a batch sent while
    the kill was under way would look sent after it)."""


def run_load(
    service: Service, tmp_path: Path, phases: list[tuple[str, float]], *, kill_at: float | None = None
) -> Run:
    """Load at ``RATE`` while the bus goes through ``phases``; ``kill -9`` and restart ``kill_at`` s in."""
    out = tmp_path / "bus.json"
    killed_at: list[float] = []
    seconds = sum(duration for _, duration in phases)
    with flapping_bus(service.inngest_port, schedule_text(phases), out):
        bus_started = time.monotonic()
        service.start()
        try:

            async def load() -> LoadResult:
                paced = asyncio.create_task(
                    paced_load(service.url, RATE, seconds - (time.monotonic() - bus_started))
                )
                if kill_at is not None:
                    await asyncio.sleep(kill_at - (time.monotonic() - bus_started))
                    await asyncio.to_thread(service.kill)
                    killed_at.append(time.time())
                    await asyncio.to_thread(service.start)
                return await paced

            result = asyncio.run(load())
            wait_until(lambda: pending_events(service) == 0, 60, "every stored event was delivered")
        finally:
            service.stop()
        ended = time.time()
    return Run(BusRecord.read(out, ended), result, killed_at[0] if killed_at else None)


def test_after_any_outage_the_first_delivery_comes_within_2_s_and_the_backlog_drains_at_full_speed(
    service: Service, tmp_path: Path
) -> None:
    run = run_load(service, tmp_path, OUTAGES)
    record, load = run.record, run.load

    counts = tally(record, load.acknowledged)
    found = recoveries(record, load.acknowledged)
    steady = percentiles(steady_latencies(record, load.acknowledged, settle=2.0))
    for recovery in found:
        report(
            f"bus back after {recovery.outage} for {recovery.lasted:g} s",
            first_delivery_after_s=recovery.first_delivery_after,
            backlog=recovery.backlog,
            drained_after_s=recovery.drained_after,
            drain_events_per_s=round(recovery.drain_rate),
            longest_pause_in_drain_s=recovery.longest_pause_in_drain,
        )
    report(
        "outages at 800 events/s",
        acknowledged=counts.acknowledged,
        missing=len(counts.missing),
        duplicated=counts.duplicated,
        latency_all=percentiles([record.latency(event_id) for event_id in load.acknowledged]),
        latency_steady=steady,
        probes_get=record.gets,
        posts=record.posts,
    )
    assert load.statuses == Counter({200: len(load.acknowledged)})
    assert (counts.missing, counts.duplicated) == ([], 0)
    assert [recovery.outage for recovery in found] == ["down", "500", "hang", "down"]
    assert all(recovery.first_delivery_after <= 2.0 for recovery in found)
    assert all(recovery.longest_pause_in_drain <= 1.0 for recovery in found), (
        "no backoff once the bus is back"
    )


def test_with_a_healthy_bus_at_800_events_per_second_an_event_is_delivered_within_a_second_at_p99(
    service: Service, tmp_path: Path
) -> None:
    run = run_load(service, tmp_path, [("up", 20)])

    counts = tally(run.record, run.load.acknowledged)
    latency = percentiles([run.record.latency(event_id) for event_id in run.load.acknowledged])
    report("healthy bus at 800 events/s", acknowledged=counts.acknowledged, latency=latency)
    assert (counts.missing, counts.duplicated) == ([], 0)
    assert latency["p99"] <= 1.0


def test_a_flapping_bus_and_a_kill_9_lose_nothing_and_duplicate_nothing(
    service: Service, tmp_path: Path
) -> None:
    cycles = int(os.environ.get("EVENTGATE_SOAK_CYCLES", "1"))
    scale = float(os.environ.get("EVENTGATE_SOAK_SCALE", "1"))
    phases = [(name, seconds * scale) for _ in range(cycles) for name, seconds in SOAK_CYCLE] + [
        ("up", 8 * scale)
    ]
    kill_at = sum(seconds for _, seconds in phases[:2]) + 4 * scale  # in the second up phase

    run = run_load(service, tmp_path, phases, kill_at=kill_at)
    record, load = run.record, run.load

    counts = tally(record, load.acknowledged)
    twice = [times for times in record.arrivals.values() if len(times) > 1]
    assert run.killed_at is not None
    latencies = [record.latency(event_id) for event_id in load.acknowledged]
    report(
        f"flapping soak, {cycles} cycle(s) at scale {scale:g}, kill -9 at {kill_at:g} s",
        seconds=sum(seconds for _, seconds in phases),
        acknowledged=counts.acknowledged,
        refused_while_restarting=load.statuses[0],
        missing=len(counts.missing),
        duplicated=counts.duplicated,
        arrived_unacknowledged=counts.unacknowledged_arrivals,
        latency=percentiles(latencies),
        latency_steady=percentiles(steady_latencies(record, load.acknowledged)),
        first_delivery_after_s=[
            recovery.first_delivery_after for recovery in recoveries(record, load.acknowledged)
        ],
    )
    assert counts.missing == []
    assert all(len(times) == 2 and times[0] <= run.killed_at < times[1] for times in twice), (
        "the only events sent twice are those the bus took just before the kill, before the outbox knew"
    )
    assert set(load.statuses) <= {200, 0}


def test_a_rejected_event_key_pauses_delivery_once_keeps_every_event_and_resumes_with_the_right_key(
    service: Service, tmp_path: Path
) -> None:
    right_key = "the-right-key"
    service.environment["INNGEST_EVENT_KEY"] = "a-wrong-key"
    with flapping_bus(service.inngest_port, "up:0", tmp_path / "bus.json", key=right_key):
        service.start()
        try:
            load = asyncio.run(drive_load(service.url, 137, concurrency=8))
            time.sleep(3)
            readiness = httpx.get(f"{service.url}/readyz", timeout=10)
            metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
            status = json.loads(service.outbox_command("status", "--json").stdout)
        finally:
            service.stop()
        lines = service.log.read_text().splitlines()

        service.environment["INNGEST_EVENT_KEY"] = right_key
        service.start()
        try:
            wait_until(lambda: pending_events(service) == 0, 30, "every event was delivered")
            ready_again = httpx.get(f"{service.url}/readyz", timeout=10)
        finally:
            service.stop()
    record = BusRecord.read(tmp_path / "bus.json", time.time())

    said = [line for line in lines if "event key rejected" in line]
    report(
        "event key rejected",
        posts=record.posts,
        probes=record.gets,
        log_lines=len(said),
        pending=status["pending"],
    )
    assert load.statuses == Counter({200: 137})
    assert (status["pending"], status["dead"]) == (137, 0)
    assert readiness.status_code == 503
    assert "event key rejected" in readiness.json()["checks"]["relay"]
    assert 'eventgate_delivery_pauses_total{backend="inngest",cause="event-key-rejected"} 1.0' in metrics
    assert 'eventgate_events_dead_lettered_total{backend="inngest"} 0.0' in metrics
    assert len(said) == 1, said
    assert json.loads(said[0])["level"] == "error"
    assert set(record.arrivals) == set(load.acknowledged)
    assert ready_again.status_code == 200
