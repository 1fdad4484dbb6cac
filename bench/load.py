"""Driving load with wrk, and what one load run measured on the server and at the Inngest stand-in."""

import json
import os
import resource
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from procs import CLOCK_TICKS, BenchError, cpu_seconds, process_tree, tree_cpu_seconds, tree_memory_mib

LUA_SCRIPT = Path(__file__).with_name("post.lua")
RESULT_PREFIX = "BENCH_RESULT "
BODY = '{"name":"app/bench","data":{"n":1}}'
STRANGER_BODY = '{"data":[' + ",".join(["[]"] * 40_000) + "]}"
"""About 120 kB of nested arrays, sent without a session: what issue 15 found read and decoded before
the request was refused (the environment that carries it to wrk holds at most 128 KiB a variable)."""


@dataclass(frozen=True, slots=True)
class LoadShape:
    """What wrk sends: how many connections and threads, with which cookie; or, with ``cookies``, a
    file of cookies (one per line) each wrk thread sends in turn, one per request."""

    connections: int
    threads: int
    cookie: str
    body: str = BODY
    cookies: Path | None = None
    status: int = 200
    """What every answer should be: 200, or 401 for requests sent without a session. A run's
    ``non_2xx`` counts the answers that are not what was expected."""


@dataclass(frozen=True, slots=True)
class WrkSummary:
    """wrk's own figures, from ``post.lua``'s ``done`` callback; latencies in microseconds."""

    requests: int
    duration_us: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def non_2xx(self) -> int:
        """Responses wrk counted as errors because their status was not 2xx or 3xx."""
        return self.errors["status"]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def wrk_command(url: str, seconds: float, shape: LoadShape) -> list[str]:
    return [
        "wrk",
        f"-t{shape.threads}",
        f"-c{shape.connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]


def start_wrk(url: str, seconds: float, shape: LoadShape) -> "subprocess.Popen[str]":
    """Start wrk against ``url``; ``finish_wrk`` collects its summary."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"load goes to loopback only, not to {url}")
    env = {**os.environ, "BENCH_COOKIE": shape.cookie, "BENCH_BODY": shape.body}
    if shape.cookies is not None:
        env["BENCH_COOKIES_FILE"] = str(shape.cookies)
        env["BENCH_THREADS"] = str(shape.threads)
    return subprocess.Popen(
        wrk_command(url, seconds, shape),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_wrk(process: "subprocess.Popen[str]", timeout: float) -> WrkSummary:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError(f"wrk did not finish within {timeout:.0f} s") from None
    if process.returncode != 0:
        raise BenchError(f"wrk failed ({process.returncode}): {stderr.strip() or stdout.strip()}")
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            parsed: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return WrkSummary(
                requests=parsed["requests"],
                duration_us=parsed["duration_us"],
                errors=parsed["errors"],
                latency_us=parsed["latency_us"],
            )
    raise BenchError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{stdout}")


def run_wrk(url: str, seconds: float, shape: LoadShape) -> WrkSummary:
    return finish_wrk(start_wrk(url, seconds, shape), timeout=seconds + 30)


@dataclass(frozen=True, slots=True)
class BusCounters:
    """The stand-in's counters: requests to the event API, the events they carried, their body bytes."""

    requests: int
    events: int
    connections: int
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One measured load run against one server: its process and any processes it started.

    ``cpu_seconds`` and ``rss_mib_after`` add up the server's process tree (every thread of each
    process; ``server_processes`` says how many there were). ``backing_cores`` is what the
    processes that work for the server on the bench's behalf (its database) spent meanwhile. ``other_load_cores`` is CPU the machine spent on processes the benchmark did not start
    (busy time from ``/proc/stat`` minus the server, what backs it, the stand-in, wrk and the driver),
    in cores: when it is not near 0 someone else was using the machine and the figures are low.
    """

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    cpu_seconds: float
    cpu_us_per_request: float
    rss_mib_after: float
    server_processes: int
    bus_events: int
    bus_requests: int
    bus_connections: int
    bus_events_per_second: float
    wrk_cores: float
    stand_in_cores: float
    other_load_cores: float
    log_lines: int = 0
    """Lines the server wrote to its output (its log file) during the run: one per request when the
    access log is on, as it is by default."""
    log_bytes: int = 0
    backing_cores: float = 0.0
    backing_cpu_us_per_request: float = 0.0
    """CPU the backing processes spent per request: a database's share of the work."""
    paired_ceiling_rps: float | None = None
    """req/s of the ceiling, loaded the same way for half this run's length just before it and half
    just after: the share of the ceiling from the same minute. A machine whose speed drifts over
    minutes (a shared host's does) makes a share of a ceiling measured earlier in the bench wrong."""
    paired_ceiling_cpu_us: float | None = None
    """The paired ceiling's CPU per request, as ``cpu_us_per_request``."""

    @property
    def share_of_paired_ceiling(self) -> float | None:
        if not self.paired_ceiling_rps:
            return None
        return self.requests_per_second / self.paired_ceiling_rps

    def paired_with(self, before: "LoadRun", after: "LoadRun") -> "LoadRun":
        """This run, with the ceiling measured ``before`` and ``after`` it."""
        requests = before.requests + after.requests
        return replace(
            self,
            paired_ceiling_rps=round(requests / (before.seconds + after.seconds), 1),
            paired_ceiling_cpu_us=round((before.cpu_seconds + after.cpu_seconds) * 1e6 / requests, 1)
            if requests
            else None,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class LogCounter:
    """Lines and bytes a server has written to its log file so far, read from where the last count ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> tuple[int, int]:
        """(lines, bytes) written so far."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            while chunk := log.read(1 << 20):
                self.lines += chunk.count(b"\n")
                self.offset += len(chunk)
        return self.lines, self.offset


LOG_SETTLE_SECONDS = 0.5
"""How long after a run the lines it caused are given to reach the log file (a log may be buffered)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What a load run watches: the server, its log file, the Inngest stand-in and its counters."""

    server_pid: int
    stand_in_pid: int
    bus: Callable[[], BusCounters]
    log: LogCounter | None = None
    backing: tuple[int, ...] = ()
    """Processes that work for the server on the bench's behalf (the postmaster of a private cluster,
    or of the machine's database): their CPU is the bench's own work, not someone else's."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    server_cpu: float
    stand_in_cpu: float
    children_cpu: float
    own_cpu: float
    machine_busy: float
    bus: BusCounters
    backing_cpu: float = 0.0

    @classmethod
    def take(cls, probe: Probe) -> "Snapshot":
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            server_cpu=tree_cpu_seconds(probe.server_pid),
            stand_in_cpu=cpu_seconds(probe.stand_in_pid),
            children_cpu=children.ru_utime + children.ru_stime,
            own_cpu=own.ru_utime + own.ru_stime,
            machine_busy=machine_busy_seconds(),
            bus=probe.bus(),
            backing_cpu=sum(tree_cpu_seconds(pid) for pid in probe.backing),
        )


def machine_busy_seconds() -> float:
    """CPU seconds all cores have been busy since boot (every ``/proc/stat`` column but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


QUIET_CORES = 0.2
"""Other load, in cores, above which a machine is too busy to measure on."""


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores the machine keeps busy over the next ``seconds``."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_for_quiet(patience: float) -> float:
    """Wait up to ``patience`` seconds for other work on the machine to stop; returns the last reading.

    Anything else running (a test suite, a build) takes CPU from the server and wrk and makes every
    figure low, so measuring starts when the machine is quiet, or says that it was not.
    """
    deadline = time.monotonic() + patience
    busy = busy_cores()
    while busy > QUIET_CORES and time.monotonic() < deadline:
        print(f"  {busy:.2f} cores are busy with other work; waiting for quiet", flush=True)
        busy = busy_cores(5.0)
    if busy > QUIET_CORES:
        print(f"  !! going on with {busy:.2f} cores busy elsewhere: figures will be low", flush=True)
    return round(busy, 2)


@dataclass(slots=True)
class Patience:
    """Seconds the bench may spend in all waiting for a quiet machine and measuring runs again."""

    left: float

    def wait_for_quiet(self, at_most: float) -> float:
        started = time.monotonic()
        busy = wait_for_quiet(max(0.0, min(at_most, self.left)))
        self.left -= time.monotonic() - started
        return busy


def measure_run(probe: Probe, url: str, seconds: float, shape: LoadShape) -> LoadRun:
    """Load ``url`` with wrk; measure the server (CPU, RSS), the bus and the machine meanwhile."""
    log_before = probe.log.count() if probe.log else (0, 0)
    before = Snapshot.take(probe)
    summary = run_wrk(url, seconds, shape)
    after = Snapshot.take(probe)
    processes = len(process_tree(probe.server_pid))
    run = summarise(summary, before, after, tree_memory_mib(probe.server_pid), processes)
    if probe.log:
        time.sleep(LOG_SETTLE_SECONDS)
        lines, written = probe.log.count()
        run = replace(run, log_lines=lines - log_before[0], log_bytes=written - log_before[1])
    if shape.status != 200:
        # wrk counts answers outside 2xx and 3xx; when every answer should be a refusal, the
        # unexpected ones are the others
        run = replace(run, non_2xx=run.requests - run.non_2xx - run.socket_errors)
    return run


def cpu_per_request_together(
    servers: Mapping[str, tuple[int, str]], seconds: float, shape: LoadShape
) -> dict[str, float]:
    """Load every server (name: pid, url) at once for ``seconds``, each with its share of the
    connections; each one's CPU per request over those same seconds, its process tree's.

    A shared machine's speed drifts within seconds; servers measured in the same seconds are slowed
    alike, where servers measured in turn are not.
    """
    share = replace(shape, connections=max(1, shape.connections // len(servers)), threads=1)
    before = {name: tree_cpu_seconds(pid) for name, (pid, _) in servers.items()}
    runs = {name: start_wrk(url, seconds, share) for name, (_, url) in servers.items()}
    summaries = {name: finish_wrk(run, timeout=seconds + 30) for name, run in runs.items()}
    after = {name: tree_cpu_seconds(pid) for name, (pid, _) in servers.items()}
    for name, summary in summaries.items():
        if summary.failed or not summary.requests:
            raise BenchError(f"{name}: {summary.requests} requests, errors {summary.errors}")
    return {name: (after[name] - before[name]) * 1e6 / summaries[name].requests for name in servers}


def summarise(
    summary: WrkSummary, before: Snapshot, after: Snapshot, rss_mib: float, processes: int = 1
) -> LoadRun:
    seconds = summary.duration_us / 1e6
    latency = summary.latency_us
    server = after.server_cpu - before.server_cpu
    stand_in = after.stand_in_cpu - before.stand_in_cpu
    wrk = after.children_cpu - before.children_cpu
    backing = after.backing_cpu - before.backing_cpu
    ours = server + backing + stand_in + wrk + (after.own_cpu - before.own_cpu)
    events = after.bus.events - before.bus.events
    return LoadRun(
        requests=summary.requests,
        seconds=round(seconds, 3),
        requests_per_second=round(summary.requests / seconds, 1),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        p999_ms=latency["p999"] / 1000,
        max_ms=latency["max"] / 1000,
        non_2xx=summary.non_2xx,
        socket_errors=summary.failed - summary.non_2xx,
        cpu_seconds=round(server, 2),
        cpu_us_per_request=round(server / summary.requests * 1e6, 1) if summary.requests else 0.0,
        rss_mib_after=round(rss_mib, 1),
        server_processes=processes,
        bus_events=events,
        bus_requests=after.bus.requests - before.bus.requests,
        bus_connections=after.bus.connections - before.bus.connections - 1,  # less the /stats read
        bus_events_per_second=round(events / seconds, 1),
        wrk_cores=round(wrk / seconds, 2),
        stand_in_cores=round(stand_in / seconds, 2),
        other_load_cores=round(max(0.0, after.machine_busy - before.machine_busy - ours) / seconds, 2),
        backing_cores=round(backing / seconds, 2),
        backing_cpu_us_per_request=round(backing / summary.requests * 1e6, 1) if summary.requests else 0.0,
    )
