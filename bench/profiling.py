"""Where a server's CPU goes per request: py-spy samples, grouped, and scaled by measured CPU time.

py-spy records every thread of the server (``--threads``, so each stack starts with its thread)
for a few seconds while wrk loads it. Each sampled stack is put in one group by the first rule
below that matches any of its frames. A group's share of the server's CPU is the sum, over
threads, of (the thread's CPU time, read from ``/proc/<pid>/task/<tid>/stat`` around the
recording) x (the group's share of that thread's samples); CPU that threads without samples used
counts as "other threads". Multiplied by the CPU per request of a clean run (py-spy itself slows
the server a little), that gives microseconds per request.

A sample's stack ends at the innermost Python frame, so time in C code (a syscall, OpenSSL,
SQLite, msgspec, uvloop) counts for the Python line that called it.
"""

import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import CLOCK_TICKS, BenchError

Stack = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A group, and the frame texts any one of which puts a stack in it."""

    group: str
    markers: tuple[str, ...]
    leaf_only: bool = False

    def matches(self, stack: Stack) -> bool:
        frames = stack[-1:] if self.leaf_only else stack
        return any(marker in frame for frame in frames for marker in self.markers)


RULES: tuple[Rule, ...] = (
    Rule(
        "relay: SQLite claim / mark delivered",
        (
            "SqliteWorker._run_call",
            "SqliteOutboxStore.claim.<locals>",
            "SqliteOutboxStore.mark_delivered.<locals>",
        ),
    ),
    Rule(
        "outbox group commit: INSERT + COMMIT", ("SqliteWorker._run_group", "SqliteOutboxStore._append_group")
    ),
    Rule("outbox thread: queue wait, wake-ups, GIL hand-off", ("SqliteWorker._serve_jobs",), leaf_only=True),
    Rule(
        "relay: claim, publish to Inngest (httpx), mark (event loop)",
        (
            "application/relay.py",
            "application/deliver_outbox_events.py",
            "entrypoints/composition/lifecycle.py",
        ),
    ),
    Rule(
        "thread pool: sync_to_thread, getaddrinfo for new connections",
        ("concurrent/futures/thread.py",),
    ),
    Rule("logging (incl. uvicorn access log)", ("logging/__init__.py",)),
    Rule(
        "dependency injection: RecordUserEvent built per request (gather)",
        ("provide_record_user_event", "dependency_injector"),
    ),
    Rule("session cookie: parse + JWE decrypt", ("adapters/nextauth/",)),
    Rule("request body: read + decode (msgspec)", ("entrypoints/http/request_body.py",)),
    Rule("event size check (json.dumps)", ("serialized_size (",)),
    Rule("event name check", ("check_event_name",)),
    Rule("event id (UUIDv7)", ("domain/event_ids.py",)),
    Rule("outbox publish: encode + enqueue (event loop)", ("adapters/sqlite_outbox/",)),
    Rule("Inngest publish in the request (httpx)", ("adapters/inngest/", "httpx/", "httpcore/")),
    Rule("use case and domain, other", ("application/", "domain/")),
    Rule(
        "handler: request.body(), cookies, headers, answer",
        (
            "entrypoints/http/record_event.py",
            "entrypoints/http/problems.py",
            "entrypoints/http/request_body.py",
            "entrypoints/http/request_guards.py",
            "entrypoints/http/json_answer.py",
        ),
    ),
    Rule(
        "edge: request id, headers, HTTP metrics, access log",
        (
            "request_id_from",
            "_answer_headers",
            "entrypoints/http/access_log.py",
            "entrypoints/http/metrics.py",
            "prometheus_client/",
            "count_api_outcomes",
        ),
    ),
    Rule(
        "edge: request id, headers, HTTP metrics, access log", ("entrypoints/http/edge.py",), leaf_only=True
    ),
    Rule("Litestar: routing, kwargs, response encode and send", ("litestar/",)),
    Rule("uvicorn + httptools (HTTP parsing, ASGI glue)", ("uvicorn/",)),
)
BOOTSTRAP_MARKER = "asyncio/runners.py"
EVENT_LOOP = "event loop: uvloop C code, socket I/O, task switching"
OTHER_THREADS = "other threads (no samples)"


def group_of(stack: Stack) -> str:
    """The group of a sampled stack, judged on the frames below the event loop's bootstrap."""
    work = below_bootstrap(stack)
    for rule in RULES:
        if work and rule.matches(work):
            return rule.group
    return EVENT_LOOP


def below_bootstrap(stack: Stack) -> Stack:
    """The frames the event loop called: every main-thread stack starts in the CLI, uvicorn and
    ``asyncio.Runner.run``, which would otherwise match every rule that names them."""
    start = 0
    for index, frame in enumerate(stack):
        if BOOTSTRAP_MARKER in frame:
            start = index + 1
    return stack[start:]


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each thread of ``pid``, by thread id."""
    times: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        times[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return times


def record(py_spy: Path, pid: int, seconds: float, output: Path, rate: int = 200) -> None:
    """Sample ``pid`` for ``seconds`` into ``output`` (collapsed stacks, one thread frame first)."""
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--threads",
        "--output",
        str(output),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if completed.returncode != 0 or not output.exists():
        raise BenchError(f"py-spy failed ({completed.returncode}): {completed.stderr.strip()[-1500:]}")


@dataclass(frozen=True, slots=True)
class Samples:
    """py-spy's samples: per thread id, the count of each stack; and each thread's name."""

    stacks: dict[int, Counter[Stack]]
    names: dict[int, str]


def parse_collapsed(text: str) -> Samples:
    """The samples of py-spy's raw output recorded with ``--threads``."""
    stacks: dict[int, Counter[Stack]] = defaultdict(Counter)
    names: dict[int, str] = {}
    for line in text.splitlines():
        stack_text, _, count = line.rstrip().rpartition(" ")
        if not stack_text:
            continue
        thread, *frames = stack_text.split(";")
        tid, name = _thread(thread)
        stacks[tid][tuple(frames)] += int(count)
        names[tid] = name
    return Samples(dict(stacks), names)


def _thread(frame: str) -> tuple[int, str]:
    """``thread (11541): MainThread`` -> (11541, "MainThread"); py-spy prints the OS thread id."""
    inside, _, rest = frame.partition("(")[2].partition(")")
    tid = int(inside, 16) if inside.startswith("0x") else int(inside)
    return tid, rest.removeprefix(":").strip()


@dataclass(frozen=True, slots=True)
class Group:
    """One group of a profile: its share of the CPU, and its most sampled innermost frames."""

    name: str
    share: float
    cpu_seconds: float
    samples: int
    top_frames: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A profile, grouped; ``groups`` sorted by share, largest first; ``threads``: CPU seconds by name."""

    seconds: float
    cpu_seconds: float
    samples: int
    groups: tuple[Group, ...]
    threads: tuple[tuple[str, float], ...]
    top_lines: tuple[tuple[str, int], ...]

    def per_request(self, cpu_us_per_request: float) -> list[dict[str, Any]]:
        """Each group's share, and its microseconds of CPU per request at ``cpu_us_per_request``."""
        return [
            {
                "group": group.name,
                "share": round(group.share, 4),
                "us_per_request": round(group.share * cpu_us_per_request, 1),
                "samples": group.samples,
                "top_frames": [{"frame": frame, "samples": hits} for frame, hits in group.top_frames],
            }
            for group in self.groups
        ]


@dataclass(slots=True)
class _Tally:
    """Running totals per group while the samples are weighed."""

    cpu: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    samples: Counter[str] = field(default_factory=Counter)
    frames: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, group: str, stack: Stack, cpu: float, count: int) -> None:
        self.cpu[group] += cpu
        self.samples[group] += count
        if stack:
            self.frames[group][stack[-1]] += count

    def groups(self, cpu_total: float) -> tuple[Group, ...]:
        ordered = sorted(self.cpu.items(), key=lambda item: item[1], reverse=True)
        return tuple(
            Group(
                name,
                cpu / cpu_total,
                round(cpu, 3),
                self.samples[name],
                tuple(self.frames[name].most_common(5)),
            )
            for name, cpu in ordered
        )


def breakdown(
    samples: Samples,
    cpu_by_thread: Mapping[int, float],
    seconds: float,
    classify: Callable[[Stack], str] = group_of,
) -> Breakdown:
    """Group the samples and weigh each thread's groups by the CPU the thread used."""
    cpu_total = sum(cpu_by_thread.values())
    if cpu_total <= 0:
        raise BenchError("the profiled process used no CPU while it was sampled")
    tally = _Tally()
    threads: defaultdict[str, float] = defaultdict(float)
    for tid, cpu in cpu_by_thread.items():
        threads[samples.names.get(tid, "threads without samples")] += cpu
        stacks = samples.stacks.get(tid)
        if not stacks:
            tally.add(OTHER_THREADS, (), cpu, 0)
            continue
        total = sum(stacks.values())
        for stack, count in stacks.items():
            tally.add(classify(stack), stack, cpu * count / total, count)
    return Breakdown(
        seconds=seconds,
        cpu_seconds=round(cpu_total, 3),
        samples=sum(tally.samples.values()),
        groups=tally.groups(cpu_total),
        threads=tuple((name, round(cpu, 3)) for name, cpu in sorted(threads.items(), key=lambda t: -t[1])),
        top_lines=top_lines(samples),
    )


def top_lines(samples: Samples, count: int = 25) -> tuple[tuple[str, int], ...]:
    """The innermost frames most often sampled (self time), over all threads."""
    leaves: Counter[str] = Counter()
    for stacks in samples.stacks.values():
        for stack, hits in stacks.items():
            if stack:
                leaves[stack[-1]] += hits
    return tuple(leaves.most_common(count))


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> dict[int, float]:
    """CPU each thread used between two ``thread_cpu`` readings (threads that started count from 0)."""
    return {tid: after[tid] - before.get(tid, 0.0) for tid in after}
