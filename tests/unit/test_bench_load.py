"""``bench/load.py``: what one load run is said to have cost, and whose work that was."""

import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/load.py`` imports its sibling scripts by name, as ``bench/run.py`` runs it."""
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("load")


def snapshot(load: ModuleType, *, server: float, backing: float, machine: float, events: int) -> object:
    bus = load.BusCounters(requests=events // 100, events=events, connections=1)
    return load.Snapshot(
        server_cpu=server,
        stand_in_cpu=0.0,
        children_cpu=0.0,
        own_cpu=0.0,
        machine_busy=machine,
        bus=bus,
        backing_cpu=backing,
    )


def test_a_private_database_clusters_cpu_is_the_benchs_own_work_not_other_load(load: ModuleType) -> None:
    summary = load.WrkSummary(
        requests=20_000,
        duration_us=10_000_000,
        errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        latency_us={"p50": 2_000, "p90": 3_000, "p99": 5_000, "p999": 7_000, "max": 9_000, "mean": 2_100},
    )
    before = snapshot(load, server=100.0, backing=50.0, machine=1_000.0, events=0)
    after = snapshot(load, server=104.0, backing=57.0, machine=1_011.5, events=20_000)

    run = load.summarise(summary, before, after, rss_mib=100.0)

    assert run.backing_cores == pytest.approx(0.7)
    assert run.backing_cpu_us_per_request == pytest.approx(350.0)
    assert run.cpu_us_per_request == pytest.approx(200.0)
    assert run.other_load_cores == pytest.approx(0.05)
