"""The outbox gauges, rendered from one status read at scrape time."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics.outbox_collector import OutboxStatusCollector
from application.ports import OutboxStatus


def status(*, oldest_pending_age: float | None = 42.5) -> OutboxStatus:
    return OutboxStatus(
        pending=7,
        pending_bytes=2048,
        oldest_pending_age=oldest_pending_age,
        dead=3,
        delivered_last_minute=120,
        last_error="down",
    )


def rendered(collector: OutboxStatusCollector) -> dict[str, tuple[str, str, float]]:
    families = text_string_to_metric_families(generate_latest(collector).decode())
    return {family.name: (family.type, family.documentation, family.samples[0].value) for family in families}


def test_the_four_outbox_gauges_render_the_status_they_were_given() -> None:
    gauges = rendered(OutboxStatusCollector(status()))

    assert {name: value for name, (_, _, value) in gauges.items()} == {
        "eventgate_outbox_pending_events": 7,
        "eventgate_outbox_pending_bytes": 2048,
        "eventgate_outbox_oldest_pending_age_seconds": 42.5,
        "eventgate_outbox_dead_events": 3,
    }
    assert all(kind == "gauge" and help_text for kind, help_text, _ in gauges.values())


def test_the_oldest_pending_age_is_zero_when_nothing_is_pending() -> None:
    gauges = rendered(OutboxStatusCollector(status(oldest_pending_age=None)))

    assert gauges["eventgate_outbox_oldest_pending_age_seconds"][2] == 0


def test_a_collector_made_for_a_scrape_can_join_a_registry_beside_other_metrics() -> None:
    registry = CollectorRegistry()
    registry.register(OutboxStatusCollector(status()))

    assert registry.get_sample_value("eventgate_outbox_pending_events") == 7
