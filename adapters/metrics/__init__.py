"""Prometheus metrics: the metric objects, decorators that count through the ports, outbox gauges.

Wiring: ``build_registry(directory)`` is the registry ``/metrics`` renders and ``Metrics(registry)`` the
process's one set of metric objects; ``MeteredEventBus(bus, metrics, backend)`` and
``MeteredOutbox(outbox, metrics, backend)`` wrap the relay's ports, ``DeliveryPauses(metrics,
backend)`` counts the relay's pauses; ``OutboxStatusCollector`` renders a status read for one scrape.
"""

from adapters.metrics.metered import DeliveryPauses, MeteredEventBus, MeteredOutbox
from adapters.metrics.outbox_collector import OutboxStatusCollector, outbox_families
from adapters.metrics.registry import (
    Metrics,
    MultiprocessModeMismatch,
    build_registry,
    check_multiprocess_mode,
    reset_multiprocess_dir,
    writes_to_multiprocess_files,
)
from adapters.metrics.settings import MULTIPROC_DIR_ENV, MetricsSettings

__all__ = [
    "MULTIPROC_DIR_ENV",
    "DeliveryPauses",
    "MeteredEventBus",
    "MeteredOutbox",
    "Metrics",
    "MetricsSettings",
    "MultiprocessModeMismatch",
    "OutboxStatusCollector",
    "build_registry",
    "check_multiprocess_mode",
    "outbox_families",
    "reset_multiprocess_dir",
    "writes_to_multiprocess_files",
]
