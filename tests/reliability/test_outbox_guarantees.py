"""The outbox's promise, proven on the real service: once POST /api says 200, the event reaches the bus.

Each scenario runs ``eventgate serve`` as a subprocess on loopback against a loopback stand-in
for Inngest's event API, drives a bounded load of signed-in requests, and counts by event id.
"""

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.integration.inngest_stand_in import Drop, EventApiStandIn, Hang, RecordedRequest, Reply, Step
from tests.reliability.harness import Service, drive_load, free_port, report, wait_until

REQUESTS = 300


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = Service(folder=tmp_path, inngest_port=free_port())
    yield service
    service.stop()


def assert_all_arrived(
    acknowledged: list[str], stand_in: EventApiStandIn, timeout: float = 45
) -> Counter[str]:
    wait_until(
        lambda: set(acknowledged) <= set(stand_in.accepted_event_ids),
        timeout,
        "every acknowledged event arrived",
    )
    return Counter(stand_in.accepted_event_ids)


def test_events_accepted_while_inngest_is_down_all_arrive_once_it_is_up(service: Service) -> None:
    service.start()

    load = asyncio.run(drive_load(service.url, REQUESTS))
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        arrivals = assert_all_arrived(load.acknowledged, stand_in)

    assert load.statuses == Counter({200: REQUESTS})
    duplicates = sum(count - 1 for count in arrivals.values())
    report(
        "inngest down, then up",
        sent=REQUESTS,
        acknowledged=len(load.acknowledged),
        delivered=len(arrivals),
        duplicated_at_transport=duplicates,
    )
    assert duplicates == 0


def test_every_event_arrives_through_errors_throttling_resets_and_stalls(service: Service) -> None:
    chance = random.Random(20261128)
    lock = threading.Lock()

    def flaky(request: RecordedRequest) -> Step:
        with lock:
            roll = chance.random()
        if roll < 0.075:
            return Reply(status=500, body=b'{"error": "internal error", "status": 500}')
        if roll < 0.15:
            return Reply(
                status=429, body=b'{"error": "slow down", "status": 429}', headers={"Retry-After": "1"}
            )
        if roll < 0.225:
            return Drop()
        if roll < 0.30:
            return Hang(seconds=5)
        return Reply()

    service.environment["EVENTGATE_RELAY_BATCH_SIZE"] = "5"
    with EventApiStandIn(port=service.inngest_port, policy=flaky) as stand_in:
        service.start()
        load = asyncio.run(drive_load(service.url, REQUESTS))
        arrivals = assert_all_arrived(load.acknowledged, stand_in)

    duplicates = sum(count - 1 for count in arrivals.values())
    report(
        "30% of requests fail",
        sent=REQUESTS,
        acknowledged=len(load.acknowledged),
        delivered=len(arrivals),
        requests_to_inngest=len(stand_in.requests),
        duplicated_at_transport=duplicates,
    )
    assert load.statuses == Counter({200: REQUESTS})
    assert set(arrivals) == set(load.acknowledged), "no event arrives under an id that was not acknowledged"


def test_events_acknowledged_before_a_kill_9_arrive_after_the_restart(service: Service) -> None:
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        service.start()

        async def load_then_kill() -> list[str]:
            load = asyncio.create_task(drive_load(service.url, 2000, concurrency=32))
            with anyio.fail_after(30):
                while len(stand_in.accepted_event_ids) < 50:
                    await asyncio.sleep(0.02)
            service.kill()
            return (await load).acknowledged

        acknowledged = asyncio.run(load_then_kill())
        service.start()
        arrivals = assert_all_arrived(acknowledged, stand_in)

    duplicates = sum(count - 1 for count in arrivals.values())
    report(
        "kill -9 mid-load",
        acknowledged=len(acknowledged),
        delivered_unique=len(set(arrivals)),
        duplicated_at_transport=duplicates,
    )
    assert acknowledged, "the load had time to get answers before the kill"


def test_a_full_outbox_answers_503_with_retry_after_and_loses_nothing_it_acknowledged(
    service: Service,
) -> None:
    service.environment["EVENTGATE_OUTBOX_MAX_EVENTS"] = "50"
    service.start()

    load = asyncio.run(drive_load(service.url, 120, concurrency=8))
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        arrivals = assert_all_arrived(load.acknowledged, stand_in)

    report(
        "outbox full",
        sent=120,
        acknowledged=len(load.acknowledged),
        refused=load.statuses[503],
        delivered=len(arrivals),
    )
    assert load.statuses == Counter({200: 50, 503: 70})
    assert load.retry_after_missing == 0


def test_a_rejected_event_is_dead_lettered_with_its_reason_and_delivered_after_a_retry(
    service: Service,
) -> None:
    fixed = threading.Event()

    def refuses_poison(request: RecordedRequest) -> Step:
        if not fixed.is_set() and any(event["name"] == "app/poison" for event in request.json()):
            return Reply(status=400, body=b'{"error": "event data is not allowed here", "status": 400}')
        return Reply()

    with EventApiStandIn(port=service.inngest_port, policy=refuses_poison) as stand_in:
        service.start()
        good = asyncio.run(drive_load(service.url, 20, concurrency=4))
        poison = asyncio.run(drive_load(service.url, 1, concurrency=1, name="app/poison"))
        assert_all_arrived(good.acknowledged, stand_in)
        wait_until(
            lambda: json.loads(service.outbox_command("status", "--json").stdout)["dead"] == 1,
            30,
            "the poison event is dead-lettered",
        )
        [dead_line] = service.outbox_command("dead").stdout.splitlines()

        fixed.set()
        assert service.outbox_command("retry", "--all").returncode == 0
        assert_all_arrived(poison.acknowledged, stand_in)

    assert dead_line.split("\t")[0] == poison.acknowledged[0]
    assert "event data is not allowed here" in dead_line


def test_sigterm_stops_within_the_grace_period_and_keeps_undelivered_events_for_the_next_start(
    service: Service,
) -> None:
    service.environment["EVENTGATE_SHUTDOWN_GRACE"] = "2"
    with EventApiStandIn(port=service.inngest_port, policy=lambda request: Hang(seconds=30)) as stand_in:
        service.start()
        load = asyncio.run(drive_load(service.url, 20, concurrency=4))
        stand_in.wait_for_requests(1, timeout=10)
        started = time.monotonic()
        service.stop()
        stopped_after = time.monotonic() - started
    pending = json.loads(service.outbox_command("status", "--json").stdout)["pending"]

    with EventApiStandIn(port=service.inngest_port) as stand_in:
        service.start()
        assert_all_arrived(load.acknowledged, stand_in)

    report(
        "SIGTERM while Inngest hangs",
        acknowledged=len(load.acknowledged),
        pending_at_stop=pending,
        seconds_to_stop=round(stopped_after, 2),
    )
    assert stopped_after < 2 + 3, "the grace period bounds shutdown, whatever the bus does"
    assert pending == len(load.acknowledged)
