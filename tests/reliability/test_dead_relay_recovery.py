"""Recovery without waiting, proven on the real service: a killed process's leased events move in seconds.

The bus is down while the load comes in, so the events sit in the outbox leased to the relay that
accepted them (handed off to it as they were written, or claimed and waiting for the bus). That
process is then killed with ``kill -9``, and the bus comes back. The lease is 60 s: only the
knowledge that its owner is dead can move those events sooner.
"""

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path

from tests.integration.inngest_stand_in import EventApiStandIn
from tests.reliability.harness import Service, drive_load, free_port, report, wait_until

LEASE_SECONDS = 60
RESUME_WITHIN = 15.0
"""A generous bound on when the dead process's events move again (the issue's target is 5 s, and the
lease 60 s): from the restart, whose own start takes seconds on a loaded machine, or from the kill."""


def service_in(folder: Path, inngest_port: int) -> Service:
    service = Service(folder=folder, inngest_port=inngest_port)
    service.environment["EVENTGATE_RELAY_LEASE"] = str(LEASE_SECONDS)
    return service


def leased_to(service: Service) -> set[str]:
    """The pending events whose lease the service's process holds (its relay's owner names its pid)."""
    assert service.process is not None
    connection = sqlite3.connect(service.outbox)
    try:
        rows = connection.execute(
            "SELECT id FROM outbox WHERE state = 'pending' AND lease_owner LIKE ? AND lease_until > ?",
            (f"%:{service.process.pid}:%", time.time_ns() // 1_000_000),
        ).fetchall()
    finally:
        connection.close()
    return {event_id for (event_id,) in rows}


def stored(service: Service) -> int:
    connection = sqlite3.connect(service.outbox)
    try:
        (count,) = connection.execute("SELECT count(*) FROM outbox").fetchone()
    finally:
        connection.close()
    return int(count)


async def starting(*services: Service) -> None:
    await asyncio.gather(*(asyncio.to_thread(service.start) for service in services))


def seconds_until_one_arrives(event_ids: set[str], stand_in: EventApiStandIn, since: float) -> float:
    """Seconds from ``since`` (monotonic) until the first of ``event_ids`` reached the bus."""
    wait_until(
        lambda: not event_ids.isdisjoint(stand_in.accepted_event_ids), 30, "a dead relay's event arrived"
    )
    return time.monotonic() - since


def test_after_a_kill_9_mid_load_and_a_restart_the_dead_relays_events_move_in_seconds_not_after_the_lease(
    tmp_path: Path,
) -> None:
    service = service_in(tmp_path / "outbox", free_port())
    service.start()
    try:

        async def load_then_kill() -> list[str]:
            load = asyncio.create_task(drive_load(service.url, 2000, concurrency=16))
            await asyncio.to_thread(wait_until, lambda: stored(service) >= 300, 30, "300 events were stored")
            await asyncio.to_thread(service.kill)
            return (await load).acknowledged

        acknowledged = asyncio.run(load_then_kill())
        stranded = leased_to(service)
        with EventApiStandIn(port=service.inngest_port) as stand_in:
            restarted = time.monotonic()
            service.start()
            listening_after = time.monotonic() - restarted
            resumed_after = seconds_until_one_arrives(stranded, stand_in, restarted)
            wait_until(
                lambda: set(acknowledged) <= set(stand_in.accepted_event_ids), 30, "every event arrived"
            )
            drained_after = time.monotonic() - restarted
            arrivals = Counter(stand_in.accepted_event_ids)
    finally:
        service.stop()

    report(
        "kill -9 mid-load with the bus down, restart with the bus up",
        acknowledged=len(acknowledged),
        leased_to_the_dead_process=len(stranded),
        delivered=len(arrivals),
        duplicates=sum(count - 1 for count in arrivals.values()),
        listening_after_restart_s=round(listening_after, 2),
        first_delivery_after_restart_s=round(resumed_after, 2),
        all_delivered_after_restart_s=round(drained_after, 2),
    )
    assert len(acknowledged) >= 300
    assert len(stranded) >= 50, "the load left events leased to the process killed"
    assert resumed_after <= RESUME_WITHIN
    assert set(acknowledged) <= set(arrivals)
    assert max(arrivals.values()) == 1


def test_when_one_of_two_processes_sharing_an_outbox_is_killed_the_survivor_delivers_its_events_in_seconds(
    tmp_path: Path,
) -> None:
    inngest_port = free_port()
    dying, survivor = (
        service_in(tmp_path / "outbox", inngest_port),
        service_in(tmp_path / "outbox", inngest_port),
    )
    try:
        asyncio.run(starting(dying, survivor))
        acknowledged = asyncio.run(drive_load(dying.url, 400, concurrency=16)).acknowledged
        stranded = leased_to(dying)
        dying.kill()
        with EventApiStandIn(port=inngest_port) as stand_in:
            killed = time.monotonic()
            resumed_after = seconds_until_one_arrives(stranded, stand_in, killed)
            wait_until(
                lambda: set(acknowledged) <= set(stand_in.accepted_event_ids), 30, "every event arrived"
            )
            drained_after = time.monotonic() - killed
            arrivals = Counter(stand_in.accepted_event_ids)
    finally:
        survivor.stop()
        dying.stop()

    report(
        "one of two processes killed with the bus down, then the bus up",
        acknowledged=len(acknowledged),
        leased_to_the_dead_process=len(stranded),
        delivered=len(arrivals),
        duplicates=sum(count - 1 for count in arrivals.values()),
        first_delivery_after_kill_s=round(resumed_after, 2),
        all_delivered_after_kill_s=round(drained_after, 2),
    )
    assert len(acknowledged) == 400
    assert len(stranded) >= 50, "the load left events leased to the process killed"
    assert resumed_after <= RESUME_WITHIN
    assert set(acknowledged) <= set(arrivals)
    assert max(arrivals.values()) == 1
