"""Fill an outbox file with pending events through the service's own adapter, for the relay-drain run.

The events are shaped as the service makes them (the session user and a small payload, a UUIDv7
id, the current time) and stored with ``SqliteOutboxStore.publish`` in batches, as group commits.
Prints one JSON line: ``{"events": N, "seconds": S}``.

Run: ``.venv/bin/python bench/prefill.py PATH --events 200000``.
"""

import argparse
import asyncio
import json
import sys
import time

from adapters.event_ids import new_event_id
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

BENCH_USER = {"id": "bench-user", "name": "Bench User", "email": "bench@example.com"}


def bench_events(first: int, count: int, ts: int) -> list[UserEvent]:
    return [
        UserEvent(
            name="app/bench",
            data={"user": dict(BENCH_USER), "payload": {"n": serial}},
            id=new_event_id(),
            ts=ts,
        )
        for serial in range(first, first + count)
    ]


async def prefill(path: str, events: int, batch: int) -> float:
    """Store ``events`` pending events in ``path``; returns the seconds it took."""
    outbox = SqliteOutboxStore(path, max_events=max(events, 1_000_000), max_bytes=1 << 34)
    started = time.perf_counter()
    await outbox.open()
    try:
        for first in range(0, events, batch):
            ts = time.time_ns() // 1_000_000
            await outbox.append(bench_events(first, min(batch, events - first), ts))
    finally:
        await outbox.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pre-fill an outbox for the relay-drain benchmark")
    parser.add_argument("path", help="the outbox SQLite file (created)")
    parser.add_argument("--events", type=int, default=200_000, help="pending events to store")
    parser.add_argument("--batch", type=int, default=5_000, help="events per publish (one group commit)")
    arguments = parser.parse_args(argv)
    seconds = asyncio.run(prefill(arguments.path, arguments.events, arguments.batch))
    print(json.dumps({"events": arguments.events, "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
