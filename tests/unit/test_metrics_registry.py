"""``Metrics``: every metric on the registry it is given, and the outcomes of ``POST /api`` counted."""

from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics.registry import (
    MAX_REJECTION_REASONS,
    Metrics,
    MultiprocessModeMismatch,
    build_registry,
    reset_multiprocess_dir,
    writes_to_multiprocess_files,
)


def rejected(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value("eventgate_events_rejected_total", {"reason": reason})


def test_the_tests_run_prometheus_client_in_single_process_mode() -> None:
    assert not writes_to_multiprocess_files()


def test_two_metrics_on_fresh_registries_count_apart_and_leave_the_default_registry_alone() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(first).events_accepted.inc(2)
    Metrics(second).events_accepted.inc(5)

    assert first.get_sample_value("eventgate_events_accepted_total") == 2
    assert second.get_sample_value("eventgate_events_accepted_total") == 5
    assert REGISTRY.get_sample_value("eventgate_events_accepted_total") is None


def test_every_metric_is_prefixed_and_explained() -> None:
    registry = CollectorRegistry()
    Metrics(registry)

    families = list(text_string_to_metric_families(generate_latest(registry).decode()))

    assert {family.name for family in families} >= {
        "eventgate_http_requests",
        "eventgate_http_request_duration_seconds",
        "eventgate_events_accepted",
        "eventgate_events_rejected",
        "eventgate_events_published",
        "eventgate_events_retried",
        "eventgate_events_failed",
        "eventgate_events_dead_lettered",
        "eventgate_delivery_latency_seconds",
        "eventgate_publish_batch_size_events",
        "eventgate_log_lines_dropped",
    }
    assert all(family.name.startswith("eventgate_") for family in families)
    assert all(family.documentation for family in families)


def test_delivery_latency_buckets_run_from_five_milliseconds_to_ten_minutes() -> None:
    registry = CollectorRegistry()
    Metrics(registry).delivery_latency.labels(backend="memory").observe(1.0)

    (family,) = [
        family
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        if family.name == "eventgate_delivery_latency_seconds"
    ]
    bounds = [float(sample.labels["le"]) for sample in family.samples if sample.name.endswith("_bucket")]

    assert bounds[0] == 0.005
    assert bounds[-2:] == [600.0, float("inf")]


def test_a_successful_request_counts_its_events_accepted() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)

    metrics.record_outcome(200, None)
    metrics.record_outcome(200, None, events=2)

    assert registry.get_sample_value("eventgate_events_accepted_total") == 3


def test_a_refused_request_counts_as_rejected_with_the_slug_of_its_problem_type() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)

    metrics.record_outcome(401, "urn:eventgate:problem:unauthenticated")
    metrics.record_outcome(401, "urn:eventgate:problem:unauthenticated")
    metrics.record_outcome(400, "invalid-event")
    metrics.record_outcome(429, "urn:eventgate:problem:rate-limited")

    assert rejected(registry, "unauthenticated") == 2
    assert rejected(registry, "invalid-event") == 1
    assert rejected(registry, "rate-limited") == 1
    assert registry.get_sample_value("eventgate_events_accepted_total") == 0


def test_a_refusal_without_a_problem_type_is_named_by_its_status() -> None:
    registry = CollectorRegistry()

    Metrics(registry).record_outcome(503, None)

    assert rejected(registry, "http-503") == 1


def test_statuses_that_are_neither_success_nor_error_count_nothing() -> None:
    registry = CollectorRegistry()

    Metrics(registry).record_outcome(304, None)

    assert registry.get_sample_value("eventgate_events_accepted_total") == 0
    assert "eventgate_events_rejected_total{" not in generate_latest(registry).decode()


def test_a_reason_that_is_not_a_slug_is_counted_as_other() -> None:
    registry = CollectorRegistry()

    Metrics(registry).record_outcome(400, "urn:eventgate:problem:Validation failed for POST /api")

    assert rejected(registry, "other") == 1


def test_reasons_beyond_the_limit_are_counted_as_other_so_labels_stay_bounded() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)

    for n in range(MAX_REJECTION_REASONS + 5):
        metrics.record_outcome(400, f"reason-{n}")

    assert rejected(registry, "reason-0") == 1
    assert rejected(registry, f"reason-{MAX_REJECTION_REASONS - 1}") == 1
    assert rejected(registry, f"reason-{MAX_REJECTION_REASONS}") is None
    assert rejected(registry, "other") == 5


def test_without_a_multiprocess_directory_the_registry_is_a_plain_one() -> None:
    registry = build_registry(None)
    Metrics(registry).events_accepted.inc()

    assert registry.get_sample_value("eventgate_events_accepted_total") == 1


def test_a_multiprocess_directory_unknown_to_prometheus_client_at_import_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MultiprocessModeMismatch, match="single-process mode"):
        build_registry(str(tmp_path / "metrics"))

    assert not (tmp_path / "metrics").exists()


def test_resetting_the_multiprocess_directory_removes_the_files_of_an_earlier_run(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    (directory / "histogram_123.db").write_bytes(b"old")
    (directory / "notes.txt").write_text("kept")

    reset_multiprocess_dir(directory)
    reset_multiprocess_dir(tmp_path / "fresh")

    assert sorted(path.name for path in directory.iterdir()) == ["notes.txt"]
    assert (tmp_path / "fresh").is_dir()
