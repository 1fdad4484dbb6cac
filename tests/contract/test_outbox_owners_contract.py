"""The outbox contract on owners: a dead owner's leases are released at once, a live one's never.

Each store opens the same outbox twice, as two processes would share it (two SQLite stores of one
file lock their owners apart, as two processes do; two PostgreSQL stores hold their owners' advisory
locks on connections of their own). An owner dies here by its store closing; a
``kill -9`` is proven in ``tests/integration/test_sqlite_outbox_owners.py`` and ``tests/reliability``.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from domain.event import UserEvent
from tests.contract.outbox_stores import STORE_KINDS, Store, opened_stores
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio

LEASE_SECONDS = 60

OpenStore = Callable[[], Awaitable[Store]]


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"n": n}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture(params=STORE_KINDS)
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualMillisecondClock
) -> AsyncIterator[OpenStore]:
    """Opens another handle on one outbox; whatever is still open at the end is closed."""
    async with opened_stores(request.param, tmp_path, clock) as stores:
        yield stores


async def test_the_leases_of_an_owner_whose_store_closed_are_released_for_any_relay(
    open_store: OpenStore,
) -> None:
    dying, survivor = await open_store(), await open_store()
    await dying.hold_owner("relay-a")
    await dying.append([event(n) for n in range(3)])
    assert len(await dying.claim("relay-a", 10, LEASE_SECONDS)) == 3
    await dying.close()

    assert await survivor.release_dead_owners() == 3
    claimed = await survivor.claim("relay-b", 10, LEASE_SECONDS)

    assert [item.event.id for item in claimed] == ["event-0", "event-1", "event-2"]
    assert [item.attempts for item in claimed] == [0, 0, 0]


async def test_the_leases_of_a_live_owner_are_never_released(open_store: OpenStore) -> None:
    live, other = await open_store(), await open_store()
    await live.hold_owner("relay-a")
    await live.append([event(1)])
    await live.claim("relay-a", 10, LEASE_SECONDS)

    assert await other.release_dead_owners() == 0
    assert await live.release_dead_owners() == 0
    assert await other.claim("relay-b", 10, LEASE_SECONDS) == []


async def test_two_owners_of_one_store_are_both_alive_and_die_together(open_store: OpenStore) -> None:
    both, other = await open_store(), await open_store()
    await both.hold_owner("relay-a")
    await both.hold_owner("relay-b")
    await both.hold_owner("relay-a")
    await both.append([event(1), event(2)])
    await both.claim("relay-a", 1, LEASE_SECONDS)
    await both.claim("relay-b", 1, LEASE_SECONDS)

    assert await both.release_dead_owners() == 0
    assert await other.release_dead_owners() == 0
    await both.close()
    assert await other.release_dead_owners() == 2


async def test_an_owner_that_never_held_its_mark_keeps_its_leases_until_they_run_out(
    open_store: OpenStore, clock: ManualMillisecondClock
) -> None:
    """A relay of an eventgate older than the lock files (SQLite) or the owners' table (PostgreSQL)
    holds no mark, and must not lose its leases while it lives."""
    unmarked, other = await open_store(), await open_store()
    await unmarked.append([event(1)])
    await unmarked.claim("relay-old", 10, LEASE_SECONDS)
    await unmarked.close()

    assert await other.release_dead_owners() == 0
    assert await other.claim("relay-b", 10, LEASE_SECONDS) == []
    clock.advance(LEASE_SECONDS + 1)
    assert [item.event.id for item in await other.claim("relay-b", 10, LEASE_SECONDS)] == ["event-1"]


async def test_only_the_pending_events_of_a_dead_owner_are_released_and_only_once(
    open_store: OpenStore,
) -> None:
    dying, survivor = await open_store(), await open_store()
    await dying.hold_owner("relay-a")
    await dying.append([event(n) for n in range(3)])
    await dying.claim("relay-a", 10, LEASE_SECONDS)
    await dying.mark_delivered("relay-a", ["event-0"])
    await dying.dead_letter("relay-a", ["event-1"], "refused")
    await dying.close()

    assert await survivor.release_dead_owners() == 1
    assert await survivor.release_dead_owners() == 0
    assert [item.event.id for item in await survivor.claim("relay-b", 10, LEASE_SECONDS)] == ["event-2"]
    assert [letter.id for letter in await survivor.dead_letters()] == ["event-1"]


async def test_a_dead_owners_released_events_keep_their_attempts_and_retry_time(
    open_store: OpenStore, clock: ManualMillisecondClock
) -> None:
    dying, survivor = await open_store(), await open_store()
    await dying.hold_owner("relay-a")
    await dying.append([event(1)])
    await dying.claim("relay-a", 10, LEASE_SECONDS)
    await dying.retry_later("relay-a", ["event-1"], 5.0, "bus down")
    await dying.claim("relay-a", 10, LEASE_SECONDS)
    clock.advance(5)
    assert len(await dying.claim("relay-a", 10, LEASE_SECONDS)) == 1
    await dying.close()

    assert await survivor.release_dead_owners() == 1
    [claimed] = await survivor.claim("relay-b", 10, LEASE_SECONDS)
    assert claimed.attempts == 1


async def test_a_restarted_owner_of_a_new_name_frees_what_its_previous_run_held(
    open_store: OpenStore,
) -> None:
    previous = await open_store()
    await previous.hold_owner("relay-run-1")
    await previous.append([event(1)])
    await previous.claim("relay-run-1", 10, LEASE_SECONDS)
    await previous.close()

    restarted = await open_store()
    await restarted.hold_owner("relay-run-2")

    assert await restarted.release_dead_owners() == 1
    assert [item.event.id for item in await restarted.claim("relay-run-2", 10, LEASE_SECONDS)] == ["event-1"]
