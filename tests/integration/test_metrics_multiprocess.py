"""Prometheus multiprocess mode for real: separate processes count, one scrape shows the sums."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics.settings import MULTIPROC_DIR_ENV

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import asyncio
    import sys
    import time

    from prometheus_client import CollectorRegistry

    from adapters.memory import InMemoryEventBus
    from adapters.metrics import MeteredEventBus, Metrics, writes_to_multiprocess_files
    from domain.event import UserEvent

    assert writes_to_multiprocess_files(), "prometheus_client is not in multiprocess mode"
    accepted, published = int(sys.argv[1]), int(sys.argv[2])
    metrics = Metrics(CollectorRegistry())
    for _ in range(accepted):
        metrics.record_outcome(200, None)
    metrics.record_outcome(401, "urn:eventgate:problem:unauthenticated")
    now_ms = time.time_ns() // 1_000_000
    events = [UserEvent(name="app/test", data={}, id=f"e{n}", ts=now_ms) for n in range(published)]
    asyncio.run(MeteredEventBus(InMemoryEventBus(), metrics, "memory").publish(events))
    """
)

SCRAPER = textwrap.dedent(
    """
    import sys

    import os

    from adapters.metrics import MULTIPROC_DIR_ENV, Metrics, build_registry
    from adapters.sqlite_outbox.store import OutboxStatus
    from entrypoints.http.metrics import render_metrics

    registry = build_registry(os.environ[MULTIPROC_DIR_ENV])
    metrics = Metrics(registry)  # as the container wires it: the same registry /metrics renders
    metrics.record_outcome(200, None)
    status = OutboxStatus(
        pending=4, pending_bytes=400, oldest_pending_age=9.0, dead=1, delivered_last_minute=0, last_error=None
    )
    sys.stdout.buffer.write(render_metrics(registry, status))
    """
)


def run_python(code: str, *args: str, directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, MULTIPROC_DIR_ENV: str(directory)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes]) -> bytes:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    return stdout


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "prometheus"
    path.mkdir()
    return path


def test_counters_and_histograms_of_two_worker_processes_are_summed_in_one_scrape(
    directory: Path,
) -> None:
    workers = [
        run_python(WORKER, "2", "3", directory=directory),
        run_python(WORKER, "4", "5", directory=directory),
    ]
    for worker in workers:
        finish(worker)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]  # untyped upstream

    merged = samples(generate_latest(registry))

    assert merged[("eventgate_events_accepted_total", ())] == 6
    assert merged[("eventgate_events_rejected_total", (("reason", "unauthenticated"),))] == 2
    assert merged[("eventgate_events_published_total", (("backend", "memory"),))] == 8
    assert merged[("eventgate_publish_batch_size_events_count", (("backend", "memory"),))] == 2
    assert merged[("eventgate_publish_batch_size_events_sum", (("backend", "memory"),))] == 8
    assert merged[("eventgate_delivery_latency_seconds_count", (("backend", "memory"),))] == 8
    pids = {worker.pid for worker in workers}
    assert {path.name for path in directory.iterdir()} == {
        f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in pids
    }


def test_the_scraping_worker_renders_every_metric_once_with_the_outbox_gauges_as_read(
    directory: Path,
) -> None:
    finish(run_python(WORKER, "2", "3", directory=directory))

    exposition = finish(run_python(SCRAPER, directory=directory))

    names = [family.name for family in text_string_to_metric_families(exposition.decode())]
    assert len(names) == len(set(names))
    scraped = samples(exposition)
    assert scraped[("eventgate_events_accepted_total", ())] == 3
    assert scraped[("eventgate_events_published_total", (("backend", "memory"),))] == 3
    assert scraped[("eventgate_outbox_pending_events", ())] == 4
    assert scraped[("eventgate_outbox_dead_events", ())] == 1
    assert not [path for path in directory.iterdir() if path.name.startswith("gauge")]
