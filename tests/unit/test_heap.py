import gc
from collections.abc import Iterator

import pytest

from entrypoints.composition.heap import YOUNG_THRESHOLD, tune_collector_after_startup


@pytest.fixture
def collector_restored_afterwards() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored_afterwards")
def test_what_start_up_built_is_left_out_of_later_collections() -> None:
    built_at_start = {"a": [1, 2, 3]}

    tune_collector_after_startup()

    assert gc.get_freeze_count() > 0
    assert all(built_at_start is not tracked for tracked in gc.get_objects(generation=2))


@pytest.mark.usefixtures("collector_restored_afterwards")
def test_young_objects_are_collected_less_often_than_by_default_and_old_ones_as_often() -> None:
    _, middle, oldest = gc.get_threshold()

    tune_collector_after_startup()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, oldest)
