"""Every Prometheus metric eventgate exposes, created on a registry the caller owns.

Single process: ``Metrics`` registers its metric objects on the registry it is given, and that
registry is what ``/metrics`` renders; a test makes a fresh one per case.

Several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set in the environment each process starts
with): prometheus_client then keeps every counter and histogram value in a memory-mapped file per
process in that directory, and the registry ``build_registry`` returns reads them all through a
``MultiProcessCollector``, which sums counters and histogram buckets across processes, dead ones
included, so totals stay monotonic when a worker restarts. The metric objects are then registered
nowhere: registered beside the collector they would be rendered twice. There are no ``Gauge``
objects here, so no ``multiprocess_mode`` to choose and no ``mark_process_dead`` to call; the outbox
gauges are read from the shared SQLite file at scrape time (``outbox_collector``) and never touch the
files.
"""

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.metrics.batch_histogram import BatchHistogram
from adapters.metrics.settings import MULTIPROC_DIR_ENV

HTTP_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
"""From 5 ms (direct mode, an idle relay woken at once) to 10 minutes (a bus down for a while)."""
BATCH_SIZE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)

MAX_REJECTION_REASONS = 32
"""Distinct ``reason`` labels kept; any reason beyond them is counted as ``other``."""
OTHER_REASON = "other"
_REASON = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class MultiprocessModeMismatch(RuntimeError):
    """``PROMETHEUS_MULTIPROC_DIR`` and the mode prometheus_client chose at import disagree."""


def writes_to_multiprocess_files() -> bool:
    """Whether metric values go to ``PROMETHEUS_MULTIPROC_DIR``.

    prometheus_client decides once, when it is first imported, from the environment at that moment.
    """
    return values.ValueClass is not values.MutexValue


def check_multiprocess_mode(directory: str | None) -> None:
    """Raise ``MultiprocessModeMismatch`` unless prometheus_client chose the mode ``directory`` asks for.

    The folder must be in the environment the process starts with: set later, prometheus_client would
    keep counting in memory, and each worker's ``/metrics`` would show only its own counts.
    """
    multiprocess = writes_to_multiprocess_files()
    if multiprocess != bool(directory):
        raise MultiprocessModeMismatch(
            f"{MULTIPROC_DIR_ENV} must be set in the environment the process starts with: "
            "prometheus_client chooses single- or multiprocess mode when it is first imported, "
            f"and it chose {'multiprocess' if multiprocess else 'single-process'} mode"
        )


def build_registry(directory: str | None) -> CollectorRegistry:
    """The registry ``/metrics`` renders: merged from every process's files in ``directory``, when
    there is one (multiprocess mode; checked with ``check_multiprocess_mode``)."""
    check_multiprocess_mode(directory)
    registry = CollectorRegistry()
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # untyped upstream
    return registry


def reset_multiprocess_dir(directory: str | Path) -> None:
    """Create ``directory``, or empty it of a previous run's metric files.

    Call it once when the service starts, before any worker does: files left from an earlier run
    would be added to this run's totals. Never from a worker, which would erase the others' counts.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        leftover.unlink(missing_ok=True)


class Metrics:
    """Owns every eventgate metric object.

    Make one per registry; in multiprocess mode, one per process: two would share values in the
    process's files and overwrite each other's counts.

    The metric objects are public so that the decorators bind their label values once and keep
    the hot path to one ``inc`` or ``observe``. Names carry the ``eventgate_`` prefix; counters are
    exposed with the ``_total`` suffix prometheus_client adds.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        owner = None if writes_to_multiprocess_files() else registry
        self.http_requests = Counter(
            "eventgate_http_requests",
            "HTTP requests answered, by route template (unmatched when no route), method and status.",
            ["route", "method", "status"],
            registry=owner,
        )
        self.http_request_duration = Histogram(
            "eventgate_http_request_duration_seconds",
            "Time from receiving an HTTP request to having answered it, in seconds.",
            ["route", "method"],
            buckets=HTTP_LATENCY_BUCKETS,
            registry=owner,
        )
        self.events_accepted = Counter(
            "eventgate_events_accepted",
            "Events accepted by POST /api: stored in the outbox, or taken by the bus in direct mode.",
            registry=owner,
        )
        self.events_rejected = Counter(
            "eventgate_events_rejected",
            "Requests to POST /api that recorded no event, by problem type (unauthenticated, ...).",
            ["reason"],
            registry=owner,
        )
        self.events_published = Counter(
            "eventgate_events_published",
            "Events the bus acknowledged.",
            ["backend"],
            registry=owner,
        )
        self.events_retried = Counter(
            "eventgate_events_retried",
            "Events the relay could not deliver at their first attempt; each counts once, however many "
            "attempts follow.",
            ["backend"],
            registry=owner,
        )
        self.events_failed = Counter(
            "eventgate_events_failed",
            "Events the bus refused for good, each once, found by the relay resending a refused batch "
            "event by event.",
            ["backend"],
            registry=owner,
        )
        self.events_dead_lettered = Counter(
            "eventgate_events_dead_lettered",
            "Events the relay gave up on after the bus refused them alone; see eventgate outbox dead.",
            ["backend"],
            registry=owner,
        )
        self.delivery_pauses = Counter(
            "eventgate_delivery_pauses",
            "Times the relay paused delivery because the bus failed, by cause: bus-unavailable, or why "
            "the bus refuses eventgate itself (event-key-rejected, ...).",
            ["backend", "cause"],
            registry=owner,
        )
        self.delivery_latency = BatchHistogram(
            "eventgate_delivery_latency_seconds",
            "Time from accepting an event (its ts) to the bus acknowledging it, in seconds.",
            ["backend"],
            buckets=DELIVERY_LATENCY_BUCKETS,
            registry=owner,
        )
        self.publish_batch_size = Histogram(
            "eventgate_publish_batch_size_events",
            "Events per publish the bus acknowledged.",
            ["backend"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=owner,
        )
        self.log_lines_dropped = Counter(
            "eventgate_log_lines_dropped",
            "Log lines (access, info and debug) dropped because standard error was not read as fast as "
            "they came; a warning says how many.",
            registry=owner,
        )
        self._rejections: dict[str, Counter] = {}

    def record_outcome(self, status: int, problem_type: str | None = None, *, events: int = 1) -> None:
        """Count what one ``POST /api`` came to, from its HTTP status and problem ``type``.

        2xx counts ``events`` accepted; 4xx and 5xx count them rejected, with the reason the slug of
        ``problem_type`` (``urn:eventgate:problem:unauthenticated`` or just ``unauthenticated``), or
        ``http-<status>`` without one. Other statuses count nothing.
        """
        if 200 <= status < 300:
            self.events_accepted.inc(events)
        elif status >= 400:
            self._rejection(status, problem_type).inc(events)

    def _rejection(self, status: int, problem_type: str | None) -> Counter:
        reason = f"http-{status}" if problem_type is None else problem_type.rpartition(":")[2]
        counter = self._rejections.get(reason)
        if counter is None:
            if len(self._rejections) >= MAX_REJECTION_REASONS or not _REASON.fullmatch(reason):
                reason = OTHER_REASON
                counter = self._rejections.get(reason)
            if counter is None:
                counter = self._rejections[reason] = self.events_rejected.labels(reason=reason)
        return counter
