"""``RetentionPurges``: what each store forgets, and when: in chunks, at most once a minute, one at a time."""

import pytest

from adapters.outbox_retention import PURGE_CHUNK, PURGE_EVERY_MS, RetentionPurges
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio


class Delivered:
    """Delivered events, by the time they were delivered, forgotten a chunk at a time."""

    def __init__(self, finished_at_ms: list[int], fail_with: BaseException | None = None) -> None:
        self.finished_at_ms = finished_at_ms
        self.fail_with = fail_with
        self.chunks: list[tuple[int, int]] = []

    async def forget_chunk(self, before_ms: int, limit: int) -> int:
        self.chunks.append((before_ms, limit))
        if self.fail_with is not None:
            raise self.fail_with
        old = [at for at in self.finished_at_ms if at < before_ms][:limit]
        for at in old:
            self.finished_at_ms.remove(at)
        return len(old)


async def test_forgets_what_outlived_its_retention_chunk_by_chunk_and_keeps_the_rest() -> None:
    clock = ManualMillisecondClock(now_ms=0)
    delivered = Delivered([0] * (PURGE_CHUNK + 3) + [150_000])
    clock.advance(200)
    purges = RetentionPurges(100, clock, delivered.forget_chunk, (OSError,))

    purges.start_when_due()
    await purges.finish()

    assert delivered.finished_at_ms == [150_000]
    assert len(delivered.chunks) == 2


async def test_starts_at_most_once_a_minute() -> None:
    clock = ManualMillisecondClock()
    delivered = Delivered([])
    purges = RetentionPurges(1, clock, delivered.forget_chunk, (OSError,))

    for _ in range(3):
        purges.start_when_due()
        await purges.finish()
    clock.advance(PURGE_EVERY_MS)
    purges.start_when_due()
    await purges.finish()

    assert len(delivered.chunks) == 2


async def test_a_failing_store_ends_the_purge_and_the_next_one_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualMillisecondClock()
    delivered = Delivered([0], fail_with=OSError("disk gone"))
    purges = RetentionPurges(0, clock, delivered.forget_chunk, (OSError,))
    clock.advance(1)

    purges.start_when_due()
    await purges.finish()
    delivered.fail_with = None
    clock.advance(PURGE_EVERY_MS)
    purges.start_when_due()
    await purges.finish()

    assert delivered.finished_at_ms == []
    assert "could not be purged" in caplog.text


async def test_a_bug_in_the_store_is_not_taken_for_an_outage() -> None:
    clock = ManualMillisecondClock()
    purges = RetentionPurges(0, clock, Delivered([0], fail_with=KeyError("bug")).forget_chunk, (OSError,))
    clock.advance(1)

    purges.start_when_due()
    with pytest.raises(KeyError):
        await purges.finish()
