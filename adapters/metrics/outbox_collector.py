"""The outbox's depth as Prometheus gauges, read from the SQLite file at scrape time.

The outbox file is shared by every worker, so any worker reads the same numbers; they are
rendered straight from a status read for this scrape and never kept in prometheus_client's
multiprocess files, where each worker's copy would be added up or go stale.

The status is read asynchronously (the store's connection lives in its own thread) while a
collector's ``collect`` is synchronous, so the scrape handler awaits the outbox's ``status()``
first and hands the result to an ``OutboxStatusCollector`` made for that one scrape.
"""

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from application.ports import OutboxStatus


def outbox_families(status: OutboxStatus) -> list[GaugeMetricFamily]:
    """The four outbox gauges; the oldest pending age is 0 when nothing is pending."""
    return [
        GaugeMetricFamily(
            "eventgate_outbox_pending_events",
            "Events in the outbox not yet acknowledged by the bus.",
            value=status.pending,
        ),
        GaugeMetricFamily(
            "eventgate_outbox_pending_bytes",
            "Serialized size of the pending events, in bytes.",
            value=status.pending_bytes,
        ),
        GaugeMetricFamily(
            "eventgate_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending event, in seconds; 0 when none is pending.",
            value=status.oldest_pending_age or 0.0,
        ),
        GaugeMetricFamily(
            "eventgate_outbox_dead_events",
            "Events dead-lettered and kept for a person to look at (eventgate outbox dead).",
            value=status.dead,
        ),
    ]


class OutboxStatusCollector:
    """A collector of one outbox status: build one per scrape, never register it for good."""

    def __init__(self, status: OutboxStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        yield from outbox_families(self._status)
