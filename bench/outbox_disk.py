"""Bytes of SQLite outbox file per pending event and per delivered event kept for the retention.

Pending: a fresh file filled with ``--events`` events like the README's, checkpointed, measured as
page count x page size. Delivered: steady state of a simulated service, where every minute (of a
simulated clock) ``--events`` events are appended, claimed and marked delivered (``--deliver-every``
events at a time), and the store's own purge forgets those delivered longer ago than
``--retention-minutes``; once the file stopped growing,
its size is divided by the delivered events it keeps. Nothing is vacuumed: free pages and partly
filled pages are counted, as a disk holds them.
"""

import argparse
import asyncio
import sqlite3
import tempfile
from pathlib import Path

from adapters.event_ids import new_event_id
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

USER = {"id": "user-1", "name": "Ada Lovelace", "email": "ada@example.com"}


class MinuteClock:
    """Milliseconds that move a minute at a time, when told to."""

    def __init__(self) -> None:
        self.now_ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now_ms


def new_event(n: int) -> UserEvent:
    return UserEvent(name="app/user.event", data={"user": USER, "payload": "data"}, id=new_event_id(), ts=n)


def file_bytes(path: Path) -> tuple[int, int]:
    """The file's size once its log is checkpointed into it, and the rows it holds."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        rows = connection.execute(
            "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM outbox_delivered)"
        ).fetchone()[0]
    return pages * page_size, rows


async def append(store: SqliteOutboxStore, events: int) -> None:
    for first in range(0, events, 100):
        await store.append([new_event(n) for n in range(first, min(events, first + 100))])


async def pending_bytes(path: Path, events: int) -> float:
    store = SqliteOutboxStore(path)
    await store.open()
    empty, _ = file_bytes(path)
    await append(store, events)
    await store.close()
    size, rows = file_bytes(path)
    return (size - empty) / rows


async def delivered_bytes(
    path: Path, events: int, retention_minutes: int, minutes: int, *, deliver_every: int, keep_delivered: bool
) -> tuple[float, list[int]]:
    clock = MinuteClock()
    sizes: list[int] = []
    empty = 0
    for minute in range(minutes):
        clock.now_ms += 60_000
        store = SqliteOutboxStore(
            path, retention_seconds=retention_minutes * 60, keep_delivered=keep_delivered, clock_ms=clock
        )
        await store.open()
        if minute == 0:
            empty, _ = file_bytes(path)
        for first in range(0, events, deliver_every):
            await append(store, min(deliver_every, events - first))
            while claimed := await store.claim("relay", 1000, 60):
                await store.mark_delivered("relay", [claim.event.id for claim in claimed])
        await store.close()  # after the purge the first delivery of this minute started
        sizes.append(file_bytes(path)[0])
    size, rows = file_bytes(path)
    return (size - empty) / rows, sizes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events appended (per simulated minute)")
    parser.add_argument("--retention-minutes", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=15, help="simulated minutes of steady load")
    parser.add_argument(
        "--deliver-every", type=int, default=100, help="events appended between two drains by the relay"
    )
    parser.add_argument("--keep-delivered", action="store_true", help="EVENTGATE_OUTBOX_KEEP_DELIVERED=on")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pending = await pending_bytes(Path(folder) / "pending.sqlite3", arguments.events)
        delivered, sizes = await delivered_bytes(
            Path(folder) / "delivered.sqlite3",
            arguments.events,
            arguments.retention_minutes,
            arguments.minutes,
            deliver_every=arguments.deliver_every,
            keep_delivered=arguments.keep_delivered,
        )
    print(
        f"pending: {pending:.0f} bytes per event; delivered, kept for the retention: {delivered:.0f} bytes per event"
    )
    print("file size after each simulated minute (MB):", " ".join(f"{size / 1e6:.1f}" for size in sizes))


if __name__ == "__main__":
    asyncio.run(main())
