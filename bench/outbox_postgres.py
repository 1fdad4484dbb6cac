"""``outbox-postgres``: eventgate with the PostgreSQL outbox, on a private cluster, in the bench's run.

Three measurements, against a cluster ``initdb``'d for this scenario alone (loopback, ``fsync`` and
``synchronous_commit`` on, as a server has them by default): one ``eventgate serve`` measured as
the other scenarios are; two instances sharing the database under load at once (half the
connections each); and ``eventgate relay`` draining a PostgreSQL outbox pre-filled with
``drain_events`` events. Compare with ``ceiling`` and ``outbox`` of the same run.

Pre-filling runs this file as a script: ``python bench/outbox_postgres.py prefill URL --events N``.
"""

import argparse
import asyncio
import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from run import Bench, DrainResult, ScenarioResult

SCHEMA = "bench"


@dataclass(slots=True)
class PostgresOutboxResult:
    one: "ScenarioResult"
    two: dict[str, Any]
    drain: "DrainResult"
    server: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.one.to_json(),
            "two_instances": self.two,
            "drain": self.drain.to_json(),
            "postgres": self.server,
        }


def measure(bench: "Bench") -> PostgresOutboxResult:
    from procs import free_port, started  # noqa: PLC0415  the bench's own modules, as run.py imports them
    from report import drain_line  # noqa: PLC0415

    with private_cluster() as (url, server, postmaster), bench.backed_by(postmaster):
        print(f"outbox-postgres: PostgreSQL {server['version']} on {url.rsplit('@', 1)[1]}", flush=True)
        env = bench.env(EVENTGATE_OUTBOX_URL=url, EVENTGATE_OUTBOX_SCHEMA=SCHEMA)
        command = [bench.settings.eventgate, "serve", "--port", str(free_port())]
        with bench.server("outbox-postgres", command, env) as running:
            one = bench._serve_scenario("outbox-postgres", running, command, runs=1)

        two = _two_instances(bench, env)
        print(
            f"  outbox-postgres, two instances: {two['requests_per_second']:,.0f} req/s in all, p50 {two['p50_ms']:.1f} ms,"
            f" p99 {two['p99_ms']:.1f} ms (the slower instance's), {two['errors']} errors",
            flush=True,
        )

        events = bench.settings.drain_events
        print(f"outbox-postgres: pre-filling the PostgreSQL outbox with {events:,} events", flush=True)
        prefill = subprocess.run(
            [bench.settings.python, __file__, "prefill", url, "--events", str(events)],
            env=bench.base_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        with (
            bench.inngest_stand_in() as sink,
            started([bench.settings.eventgate, "relay"], env, bench.workdir / "relay-postgres.log") as relay,
        ):
            drained = bench._watch_drain(relay, events, sink)
        drained = replace(drained, prefill_seconds=round(json.loads(prefill.stdout)["seconds"], 1))
        print(drain_line(drained.to_json()), flush=True)
    return PostgresOutboxResult(one=one, two=two, drain=drained, server=server)


def _two_instances(bench: "Bench", env: dict[str, str]) -> dict[str, Any]:
    """Both instances warmed up, then wrk against each at once with half the connections."""
    from load import finish_wrk, start_wrk  # noqa: PLC0415
    from procs import free_port  # noqa: PLC0415
    from run import api_url  # noqa: PLC0415

    commands = [[bench.settings.eventgate, "serve", "--port", str(free_port())] for _ in range(2)]
    half = replace(bench.shape, connections=bench.shape.connections // 2, threads=1)
    seconds = bench.settings.seconds
    with contextlib.ExitStack() as stack:
        for n, command in enumerate(commands):
            stack.enter_context(bench.server(f"outbox-postgres-{n}", command, env))
        for command in commands:
            bench.warm_up(api_url(command), bench.settings.warmup / 2)
        before = bench.stand_in.counters()
        runs = [start_wrk(api_url(command), seconds, half) for command in commands]
        summaries = [finish_wrk(run, timeout=seconds + 60) for run in runs]
        after = bench.stand_in.counters()
    requests = sum(summary.requests for summary in summaries)
    duration = max(summary.duration_us for summary in summaries) / 1e6
    return {
        "requests": requests,
        "seconds": round(duration, 2),
        "requests_per_second": round(requests / duration, 1),
        "p50_ms": round(max(summary.latency_us["p50"] for summary in summaries) / 1000, 2),
        "p99_ms": round(max(summary.latency_us["p99"] for summary in summaries) / 1000, 2),
        "errors": sum(summary.failed for summary in summaries),
        "bus_events": after.events - before.events,
    }


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[str, dict[str, Any], int]]:
    """A fresh cluster on a free loopback port in a temporary folder, as the ``postgres`` user when root:
    its URL, its settings, and its postmaster's pid."""
    from procs import free_port  # noqa: PLC0415

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if not binaries:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    bin_dir = Path(binaries[0])
    folder = Path(tempfile.mkdtemp(prefix="eventgate-bench-postgres-"))
    as_postgres: dict[str, Any] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_postgres = {"user": user.pw_uid, "group": user.pw_gid}
    data, port = folder / "data", free_port()
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}

    def pg(*arguments: str) -> None:
        subprocess.run(arguments, env=env, capture_output=True, timeout=120, check=True, **as_postgres)

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} -c shared_buffers=128MB"
    )
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        postmaster = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        yield (
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            {
                "version": bin_dir.parent.name,
                "fsync": "on",
                "synchronous_commit": "on",
                "shared_buffers": "128MB",
            },
            postmaster,
        )
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


async def prefill(url: str, events: int, batch: int = 1000) -> float:
    """Store ``events`` pending events through the store's own appends, eight batches at a time."""
    from adapters.postgres_outbox.store import PostgresOutboxStore  # noqa: PLC0415

    from prefill import bench_events  # noqa: PLC0415

    outbox = PostgresOutboxStore(url, schema=SCHEMA, max_events=events + 1, max_bytes=1 << 40, timeout=60)
    await outbox.open()
    started = time.perf_counter()
    try:
        ts = int(time.time() * 1000)
        batches = [bench_events(first, min(batch, events - first), ts) for first in range(0, events, batch)]
        for start in range(0, len(batches), 8):
            await asyncio.gather(*(outbox.append(chunk) for chunk in batches[start : start + 8]))
    finally:
        await outbox.close()
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="pre-fill a PostgreSQL outbox for the relay drain")
    parser.add_argument("action", choices=["prefill"])
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=200_000)
    arguments = parser.parse_args(argv)
    seconds = asyncio.run(prefill(arguments.url, arguments.events))
    print(json.dumps({"events": arguments.events, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
