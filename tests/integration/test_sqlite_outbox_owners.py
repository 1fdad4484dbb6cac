"""A relay's process killed with ``kill -9``: the SQLite outbox knows it dead, and frees its events at once."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore

pytestmark = pytest.mark.anyio

LEASED = """
import asyncio, sys
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

async def main() -> None:
    store = SqliteOutboxStore(sys.argv[1])
    await store.open()
    await store.hold_owner("relay-claiming")
    await store.append([UserEvent(name="app/test", data={}, id=f"claimed-{n}", ts=n) for n in range(2)])
    await store.claim("relay-claiming", 10, 600)
    store.hand_off_to("relay-handing-off", lease_seconds=600, capacity=100)
    await store.hold_owner("relay-handing-off")
    await store.append([UserEvent(name="app/test", data={}, id=f"handed-off-{n}", ts=n) for n in range(3)])
    print("leased", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@contextmanager
def process_holding_leases(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process whose relays hold the leases of five events (three handed off, two claimed)."""
    with subprocess.Popen(
        [sys.executable, "-c", LEASED, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "leased\n"
            yield holder
        finally:
            holder.kill()


async def test_the_events_leased_by_a_process_killed_with_kill_9_are_claimable_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    survivor = SqliteOutboxStore(path)
    await survivor.open()
    try:
        await survivor.hold_owner("relay-survivor")
        with process_holding_leases(path) as holder:
            released_while_alive = await survivor.release_dead_owners()
            holder.kill()
            holder.wait(timeout=10)
            released = await survivor.release_dead_owners()
        claimed = await survivor.claim("relay-survivor", 10, 60)
    finally:
        await survivor.close()

    assert released_while_alive == 0
    assert released == 5
    assert sorted(item.event.id for item in claimed) == [
        "claimed-0",
        "claimed-1",
        "handed-off-0",
        "handed-off-1",
        "handed-off-2",
    ]
    assert sorted(p.name for p in (tmp_path / "outbox.sqlite3.owners").iterdir()) == ["relay-survivor.lock"]
