"""The SQLite outbox's own cost per accepted event, without HTTP: appends, then their delivery.

Appends go through ``SqliteOutboxStore.append`` as the server makes them (``--concurrency`` requests
per turn of the event loop, ``--per-append`` events each, group-committed on the loop), into a fresh file; then
the relay's side (claim, mark delivered) empties it. CPU time of this process per event is
reported, the median of ``--rounds`` rounds, so that other processes on the machine weigh less than
in wall-clock time. Run it on two commits to compare them: ``.venv/bin/python bench/outbox_append.py``.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from adapters.event_ids import new_event_id
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

USER = {"id": "user-1", "name": "Ada Lovelace", "email": "ada@example.com"}


def new_event(n: int) -> UserEvent:
    return UserEvent(name="app/user.event", data={"user": USER, "payload": "data"}, id=new_event_id(), ts=n)


async def one_round(path: Path, events: int, concurrency: int, per_append: int) -> tuple[float, float]:
    """CPU microseconds per event: appending them, then claiming and marking them delivered."""
    store = SqliteOutboxStore(path)
    await store.open()
    try:
        batches = [[new_event(n + i) for i in range(per_append)] for n in range(0, events, per_append)]
        started = time.process_time()
        for first in range(0, len(batches), concurrency):
            await asyncio.gather(*(store.append(batch) for batch in batches[first : first + concurrency]))
        appended = time.process_time()
        while claimed := await store.claim("bench", 500, 60):
            await store.mark_delivered("bench", [claim.event.id for claim in claimed])
        delivered = time.process_time()
    finally:
        await store.close()
    return (appended - started) * 1e6 / events, (delivered - appended) * 1e6 / events


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-append", type=int, default=1, help="events per append (a batch request)")
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    appends: list[float] = []
    deliveries: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(arguments.rounds):
            append_us, deliver_us = await one_round(
                Path(folder) / f"outbox-{number}.sqlite3",
                arguments.events,
                arguments.concurrency,
                arguments.per_append,
            )
            appends.append(append_us)
            deliveries.append(deliver_us)
    print(
        f"append: {statistics.median(appends):.2f} µs CPU per event (min {min(appends):.2f}); "
        f"claim + mark delivered: {statistics.median(deliveries):.2f} µs (min {min(deliveries):.2f}); "
        f"{arguments.events} events, {arguments.concurrency} appends of {arguments.per_append} per loop turn, "
        f"{arguments.rounds} rounds"
    )


if __name__ == "__main__":
    asyncio.run(main())
