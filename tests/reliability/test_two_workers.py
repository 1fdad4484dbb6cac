"""`eventgate serve --workers 2`: two processes share the port and one outbox, and leases give each
pending event to one relay at a time, so none is delivered twice."""

import asyncio
import json
from collections import Counter
from pathlib import Path

import httpx

from tests.integration.inngest_stand_in import EventApiStandIn
from tests.reliability.harness import Service, drive_load, free_port, report, sample_value, wait_until


def test_two_workers_share_the_port_and_the_outbox_and_deliver_each_event_once(tmp_path: Path) -> None:
    service = Service(folder=tmp_path / "outbox", inngest_port=free_port(), workers=2)
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        service.start()
        try:
            load = asyncio.run(drive_load(service.url, 600, concurrency=16))
            wait_until(
                lambda: set(load.acknowledged) <= set(stand_in.accepted_event_ids), 45, "every event arrived"
            )
        finally:
            service.stop()

    lines = [json.loads(line) for line in service.log.read_text().splitlines() if line.startswith("{")]
    workers = {line["message"] for line in lines if line["message"].startswith("Started server process")}
    arrivals = Counter(stand_in.accepted_event_ids)
    report(
        "two workers",
        worker_processes=len(workers),
        acknowledged=len(load.acknowledged),
        delivered=len(arrivals),
        duplicated_at_transport=sum(count - 1 for count in arrivals.values()),
    )
    assert len(workers) == 2
    assert load.statuses == Counter({200: 600})
    assert set(arrivals) == set(load.acknowledged)
    assert max(arrivals.values()) == 1, "no event was delivered twice"


def test_metrics_of_two_workers_add_up_whichever_worker_answers_the_scrape(tmp_path: Path) -> None:
    service = Service(folder=tmp_path / "outbox", inngest_port=free_port(), workers=2)
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        service.start()
        try:
            load = asyncio.run(drive_load(service.url, 200, concurrency=16))
            wait_until(lambda: len(stand_in.accepted_event_ids) >= 200, 45, "every event arrived")
            scrapes = [httpx.get(f"{service.url}/metrics", timeout=10).text for _ in range(6)]
        finally:
            service.stop()

    accepted = [sample_value(scrape, "eventgate_events_accepted_total") for scrape in scrapes]
    assert load.statuses == Counter({200: 200})
    assert accepted == [200.0] * len(scrapes)
