"""A batch observed at once is exposed exactly as the same amounts observed one by one."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from adapters.metrics.batch_histogram import BatchHistogram
from adapters.metrics.registry import DELIVERY_LATENCY_BUCKETS

BATCH = [0.0, 0.004, 0.005, 0.0051, 0.3, 0.3, 7.5, 60.0, 599.0, 601.0, 3600.0]
"""Amounts at, just under, and just over bucket bounds, two alike, and two beyond the last bound."""


def exposition(histogram_class: type[Histogram], observe: str) -> tuple[CollectorRegistry, str]:
    registry = CollectorRegistry()
    histogram = histogram_class(
        "latency_seconds", "Latency.", ["backend"], buckets=DELIVERY_LATENCY_BUCKETS, registry=registry
    )
    child = histogram.labels(backend="memory")
    if observe == "batch":
        assert isinstance(child, BatchHistogram)
        child.observe_batch(BATCH)
    else:
        for amount in BATCH:
            child.observe(amount)
    return registry, generate_latest(registry).decode()


def bucket(registry: CollectorRegistry, le: str) -> float | None:
    return registry.get_sample_value("latency_seconds_bucket", {"backend": "memory", "le": le})


def test_a_known_batch_lands_in_the_buckets_its_amounts_belong_to() -> None:
    registry, _ = exposition(BatchHistogram, "batch")

    expected = {"0.005": 3, "0.01": 4, "0.25": 4, "0.5": 6, "10.0": 7, "60.0": 8, "600.0": 9, "+Inf": 11}
    assert {le: bucket(registry, le) for le in expected} == expected
    assert registry.get_sample_value("latency_seconds_count", {"backend": "memory"}) == 11
    assert registry.get_sample_value("latency_seconds_sum", {"backend": "memory"}) == pytest.approx(
        sum(BATCH)
    )


def test_a_batch_is_exposed_exactly_as_the_same_amounts_observed_one_by_one() -> None:
    _, batched = exposition(BatchHistogram, "batch")
    _, one_by_one = exposition(Histogram, "one by one")

    def without_created(text: str) -> list[str]:
        return [line for line in text.splitlines() if "_created" not in line]

    assert without_created(batched) == without_created(one_by_one)


def test_an_empty_batch_counts_nothing() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("latency_seconds", "Latency.", registry=registry)

    histogram.observe_batch([])

    assert registry.get_sample_value("latency_seconds_count") == 0
    assert registry.get_sample_value("latency_seconds_sum") == 0
