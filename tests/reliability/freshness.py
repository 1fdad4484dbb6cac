"""How late events are: a paced load, the flapping event API in its own process, and what they tell.

The service stamps each event's ``ts`` when it accepts it, and the stand-in notes the wall-clock time
each event arrives; both clocks are this machine's, so arrival minus ``ts`` is the time from
acknowledgement to delivery.
"""

import asyncio
import itertools
import json
import math
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.reliability.harness import LoadResult, session_cookie

FLAPPING_BUS = Path(__file__).with_name("flapping_bus.py")


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: float
    end: float


@dataclass(slots=True)
class BusRecord:
    """What the flapping event API saw: each acknowledged event's ``ts`` and arrivals, and its phases."""

    ts: dict[str, int]
    arrivals: dict[str, list[float]]
    phases: list[Phase]
    posts: int
    gets: int

    @classmethod
    def read(cls, path: Path, ended_at: float) -> "BusRecord":
        raw = json.loads(path.read_bytes())
        ts: dict[str, int] = {}
        arrivals: dict[str, list[float]] = {}
        for event_id, stamp, arrived in raw["arrivals"]:
            ts[event_id] = stamp
            arrivals.setdefault(event_id, []).append(arrived)
        starts = raw["phases"]
        ends = [start for _, start in starts[1:]] + [ended_at]
        phases = [Phase(name, start, end) for (name, start), end in zip(starts, ends, strict=True)]
        return cls(ts, arrivals, phases, raw["posts"], raw["gets"])

    def first_arrival(self, event_id: str) -> float:
        return self.arrivals[event_id][0]

    def latency(self, event_id: str) -> float:
        """Seconds from acknowledgement (the event's ``ts``) to its first arrival."""
        return self.first_arrival(event_id) - self.ts[event_id] / 1000


@contextmanager
def flapping_bus(port: int, schedule: str, out: Path, key: str = "reliability-test-key") -> Iterator[Path]:
    """The flapping event API on ``port``, through ``schedule``; ``out`` holds its record once it stops."""
    arguments = ["--port", str(port), "--key", key, "--schedule", schedule, "--out", str(out)]
    with subprocess.Popen(
        [sys.executable, str(FLAPPING_BUS), *arguments], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "READY":
                raise RuntimeError("the flapping event API did not start")
            yield out
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


async def paced_load(url: str, rate: float, seconds: float, *, concurrency: int = 256) -> LoadResult:
    """POST ``rate`` signed-in events a second for ``seconds``, on time whatever the answers take.

    A request the service could not answer (killed, restarting) counts as status 0 and is not sent
    again: only acknowledged events are owed.
    """
    result = LoadResult()
    cookie = session_cookie()
    slots = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as session:

        async def post(number: int) -> None:
            try:
                async with session.post(
                    f"{url}/api",
                    json={"name": "app/fresh", "data": {"n": number}},
                    headers={"Cookie": cookie},
                ) as response:
                    result.statuses[response.status] += 1
                    if response.status == 200:
                        result.acknowledged.extend((await response.json())["ids"])
            except (aiohttp.ClientError, TimeoutError):
                result.statuses[0] += 1
            finally:
                slots.release()

        started = loop.time()
        posts: set[asyncio.Task[None]] = set()
        for number in range(int(rate * seconds)):
            delay = started + number / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(post(number))
            posts.add(task)
            task.add_done_callback(posts.discard)
        await asyncio.gather(*posts)
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    return {
        name: round(percentile(values, fraction), 3)
        for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
    }


@dataclass(frozen=True, slots=True)
class Recovery:
    """The bus came back after ``outage`` at ``back``: how soon it got events, and how the backlog went."""

    outage: str
    lasted: float
    first_delivery_after: float
    backlog: int
    drained_after: float
    longest_pause_in_drain: float

    @property
    def drain_rate(self) -> float:
        return self.backlog / max(self.drained_after, 1e-3)


def recoveries(record: BusRecord, acknowledged: Sequence[str]) -> list[Recovery]:
    """One per phase that follows an outage: the first arrival after it, and the backlog it met."""
    found = []
    for before, phase in zip(record.phases, record.phases[1:], strict=False):
        if phase.name != "up" or before.name == "up":
            continue
        back = phase.start
        after = sorted(
            record.first_arrival(event_id) for event_id in acknowledged if event_id in record.arrivals
        )
        after = [moment for moment in after if moment >= back]
        backlog = sorted(
            record.first_arrival(event_id)
            for event_id in acknowledged
            if event_id in record.ts and record.ts[event_id] / 1000 < back <= record.first_arrival(event_id)
        )
        if not after or not backlog:
            continue
        gaps = [later - earlier for earlier, later in itertools.pairwise(backlog)]
        found.append(
            Recovery(
                outage=before.name,
                lasted=round(before.end - before.start, 1),
                first_delivery_after=round(after[0] - back, 3),
                backlog=len(backlog),
                drained_after=round(backlog[-1] - back, 3),
                longest_pause_in_drain=round(max(gaps, default=0.0), 3),
            )
        )
    return found


def steady_latencies(record: BusRecord, acknowledged: Sequence[str], settle: float = 1.0) -> list[float]:
    """Latencies of the events acknowledged while the bus was up and had no backlog to catch up on.

    That is, from the moment its backlog had arrived (or the phase began, for the first one) to
    ``settle`` seconds before the next phase began, which may catch an event on its way.
    """
    windows = []
    for phase in record.phases:
        if phase.name != "up":
            continue
        caught_up = max(
            (
                record.first_arrival(event_id)
                for event_id in acknowledged
                if event_id in record.ts
                and record.ts[event_id] / 1000 < phase.start <= record.first_arrival(event_id)
            ),
            default=phase.start,
        )
        windows.append((caught_up, phase.end - settle))
    return [
        record.latency(event_id)
        for event_id in acknowledged
        if event_id in record.ts and any(start <= record.ts[event_id] / 1000 < end for start, end in windows)
    ]


@dataclass(slots=True)
class Tally:
    """Acknowledged events against what arrived: missing, duplicated, and arrived unacknowledged."""

    acknowledged: int
    delivered: int
    missing: list[str] = field(default_factory=list)
    duplicated: int = 0
    unacknowledged_arrivals: int = 0


def tally(record: BusRecord, acknowledged: Sequence[str]) -> Tally:
    counts = Counter({event_id: len(times) for event_id, times in record.arrivals.items()})
    owed = set(acknowledged)
    return Tally(
        acknowledged=len(owed),
        delivered=len(owed & counts.keys()),
        missing=sorted(owed - counts.keys()),
        duplicated=sum(count - 1 for count in counts.values()),
        unacknowledged_arrivals=len(counts.keys() - owed),
    )
