import gc
from collections.abc import Iterator

import pytest

from entrypoints.composition.heap import freeze_startup_heap


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_what_start_up_built_is_left_out_of_later_collections() -> None:
    built_at_start = {"a": [1, 2, 3]}

    freeze_startup_heap()

    assert gc.get_freeze_count() > 0
    assert all(built_at_start is not tracked for tracked in gc.get_objects(generation=2))
