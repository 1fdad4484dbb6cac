"""``make bench``: eventgate under load on loopback, beside the bare-framework ceiling, in one run.

Starts a fast Inngest event API stand-in, mints a real NextAuth v4 cookie, then for each scenario
starts one server process (or two uvicorn workers) on 127.0.0.1, warms it up and drives it with wrk
(``POST /api``, the cookie, a small JSON body); the drains time a standalone ``eventgate relay``
emptying a pre-filled outbox into each bus. Prints one table and writes
``bench/results/<UTC time>.json``.

The scenarios are ``SCENARIOS``, one entry each, in the order they run: the service as shipped
(the JSON access log at info, its output going to a file) and quiet (``EVENTGATE_LOG_LEVEL=warning``),
one user or 4,096 users in turn, JWT or database sessions, outbox or direct delivery, one worker or
two, a short outbox retention to watch the file stop growing, and the drains into Inngest's stand-in,
NATS JetStream and RabbitMQ. ``bench/README.md`` explains each and how to read the output.
"""

import argparse
import datetime
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import machine
import outbox_postgres
import report
from buses import DrainSink, private_nats, rabbitmq_queue
from cookies import mint_cookies
from database_sessions import seeded_database
from disk import DiskSampler
from load import (
    QUIET_CORES,
    STRANGER_BODY,
    BusCounters,
    LoadRun,
    LoadShape,
    LogCounter,
    Patience,
    Probe,
    cpu_per_request_together,
    finish_wrk,
    measure_run,
    run_wrk,
    start_wrk,
)
from nextjs import prepare as nextjs_app
from procs import (
    LOOPBACK,
    BenchError,
    Started,
    cpu_seconds,
    free_port,
    http_request,
    memory_mib,
    read_ready_line,
    started,
    tree_memory_mib,
    wait_until,
)
from profiling import Breakdown, breakdown, cpu_delta, parse_collapsed, record, thread_cpu

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SECRET = "eventgate-bench-secret-never-use-in-production"  # noqa: S105 - signs throwaway bench cookies
BENCH_USER = {"name": "Bench User", "email": "bench@example.com"}  # the session's user, as NextAuth shows it
INHERITED_PREFIXES = ("EVENTGATE_", "INNGEST_", "NEXTAUTH_", "AUTH_SECRET")
UNREACHABLE_RATE = "1000000000/1"
QUIET = {"EVENTGATE_LOG_LEVEL": "warning"}
"""The quiet variant: no access log (the shipped default is ``info``, one JSON line per request)."""
DISK_SAMPLE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Settings:
    venv_bin: Path
    results: Path
    seconds: float = 20.0
    warmup: float = 5.0
    # Node.js compiles its hot code as it runs: at this load the Next.js route's CPU per request falls
    # from ~3.9 ms in the first 5 s to a steady ~1.6 ms after ~10 s, so it is warmed up for longer.
    nextjs_warmup: float = 20.0
    connections: int = 32
    threads: int = 2
    leak_runs: int = 3
    profile_seconds: float = 10.0
    profile: tuple[str, ...] = ("outbox", "direct")
    drain_events: int = 200_000
    drain_timeout: float = 60.0
    log_cost_pairs: int = 10
    log_cost_seconds: float = 5.0
    """Each of the log-cost pairs' runs, both servers loaded at once."""
    sessions: int = 4096
    # The service purges delivered events once a minute. With a 1 s retention, the first purge after
    # a minute of load frees nearly all the file holds, and it stops growing: 100 s show the plateau
    # (with 10 s, the second minute still grows the file by 10 s of events, the third would be flat).
    retention: float = 1.0
    plateau_seconds: float = 100.0
    py_spy: Path | None = None
    patience: float = 60.0
    noisy_retries: int = 2
    ref: str | None = None
    scenarios: tuple[str, ...] = ()
    service_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def python(self) -> str:
        return str(self.venv_bin / "python")

    @property
    def eventgate(self) -> str:
        return str(self.venv_bin / "eventgate")


@dataclass(slots=True)
class ScenarioResult:
    """A server scenario: its runs (the median one represents it), its memory, and its profile."""

    name: str
    rss_idle_mib: float
    runs: list[LoadRun]
    profile: Breakdown | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> LoadRun:
        """The median run by its share of the paired ceiling when every run has one, else by req/s."""
        ordered = sorted(self.runs, key=_share_or_speed)
        return ordered[(len(ordered) - 1) // 2]

    def to_json(self) -> dict[str, Any]:
        median = self.median
        return {
            "rss_idle_mib": self.rss_idle_mib,
            "median_run": median.to_json(),
            "runs": [run.to_json() for run in self.runs],
            "profile": None
            if self.profile is None
            else {
                "seconds": self.profile.seconds,
                "cpu_seconds": self.profile.cpu_seconds,
                "samples": self.profile.samples,
                "groups": self.profile.per_request(median.cpu_us_per_request),
                "threads_cpu_seconds": dict(self.profile.threads),
                "top_lines": [{"frame": frame, "samples": hits} for frame, hits in self.profile.top_lines],
            },
            **self.notes,
        }


@dataclass(frozen=True, slots=True)
class DrainResult:
    """``eventgate relay`` emptying a pre-filled outbox into a bus."""

    backend: str
    events: int
    prefill_seconds: float
    delivered: int
    bus_requests: int | None
    seconds: float
    events_per_second: float
    relay_cpu_us_per_event: float
    broker_cpu_us_per_event: float | None
    relay_rss_mib: float
    pending_after: int | None
    complete: bool

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class StandIn:
    """The Inngest event API stand-in, started once for the whole benchmark."""

    def __init__(self, running: Started, port: int) -> None:
        self.running = running
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"

    def counters(self) -> BusCounters:
        answer = http_request(self.port, "GET", "/stats")
        parsed = json.loads(answer.body)
        return BusCounters(
            parsed["requests"], parsed["events"], parsed["connections"], parsed.get("bytes", 0)
        )


def _share_or_speed(run: LoadRun) -> float:
    share = run.share_of_paired_ceiling
    return run.requests_per_second if share is None else share


class Bench:
    """The scenarios, each with its own server process, all against one stand-in; while they run, a
    ceiling server of one worker stands by to measure each run's paired ceiling (``LoadRun``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        stamp: str,
        workdir: Path,
        code_env: Mapping[str, str],
        stand_in: StandIn,
        patience: Patience,
    ) -> None:
        self.settings = settings
        self.patience = patience
        self.stamp = stamp
        self.workdir = workdir
        self.code_env = code_env
        self.stand_in = stand_in
        self.shape = LoadShape(settings.connections, settings.threads, cookie=self.mint_cookie())
        self._ceiling_shape = self.shape
        self._prefill_seconds: float | None = None
        self._paired_ceiling: tuple[Probe, str] | None = None
        self._backing: tuple[int, ...] = ()

    # --- processes -------------------------------------------------------------------------------

    def mint_cookie(self) -> str:
        """A real next-auth v4 session cookie, made by ``eventgate session mint``."""
        env = {**self.base_env(), "NEXTAUTH_SECRET": SECRET}
        user = ["--name", BENCH_USER["name"], "--email", BENCH_USER["email"]]
        command = [self.settings.eventgate, "session", "mint", *user]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        if completed.returncode != 0 or "=" not in completed.stdout:
            raise BenchError(f"eventgate session mint failed: {completed.stderr.strip()}")
        return completed.stdout.strip()

    def base_env(self) -> dict[str, str]:
        """This environment without what could change the service, plus where its code comes from."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
        env.update(self.code_env)
        return env

    def env(self, **overrides: str) -> dict[str, str]:
        """The service's environment: nothing inherited that could change it, then the bench's values."""
        env = self.base_env()
        env.update(
            NEXTAUTH_SECRET=SECRET,
            INNGEST_EVENT_API_BASE_URL=self.stand_in.url,
            INNGEST_EVENT_KEY="bench",
            EVENTGATE_HOST=LOOPBACK,
            EVENTGATE_SHUTDOWN_GRACE="2",
            # One user sends every request: the limiter runs, but with limits no run can reach.
            EVENTGATE_RATE_LIMIT=UNREACHABLE_RATE,
            EVENTGATE_RATE_LIMIT_ANONYMOUS=UNREACHABLE_RATE,
        )
        env.update(overrides)
        env.update(self.settings.service_env)
        return env

    @contextmanager
    def server(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> Iterator[Started]:
        with started(command, env, self.workdir / f"{name}.log") as running:
            port = int(command[-1])
            wait_until(running, lambda: self._answers(port), timeout=30, what=f"the {name} server")
            yield running

    def _answers(self, port: int) -> bool:
        try:
            answer = http_request(
                port,
                "POST",
                "/api",
                body=self.shape.body.encode(),
                headers={"content-type": "application/json", "cookie": self.shape.cookie},
            )
        except OSError:
            return False
        if answer.status != self.shape.status:
            raise BenchError(f"POST /api answered {answer.status}: {answer.body[:500]!r}")
        return True

    def outbox_path(self, name: str) -> Path:
        return self.workdir / f"{name}-outbox" / "outbox.sqlite3"

    def eventgate_serve(
        self, name: str, delivery: str = "outbox", workers: int = 1, **overrides: str
    ) -> tuple[list[str], dict[str, str]]:
        env = self.env(
            EVENTGATE_DELIVERY=delivery, EVENTGATE_OUTBOX_PATH=str(self.outbox_path(name)), **overrides
        )
        command = [self.settings.eventgate, "serve", "--workers", str(workers), "--port", str(free_port())]
        return command, env

    # --- load ------------------------------------------------------------------------------------

    def warm_up(self, url: str, seconds: float) -> None:
        summary = run_wrk(url, seconds, self.shape)
        refusals = summary.non_2xx if self.shape.status != 200 else 0
        if summary.failed - refusals:
            raise BenchError(
                f"the warm-up against {url} had errors {summary.errors}; one request now: {self._probe(url)}"
            )

    def _probe(self, url: str) -> str:
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        headers = {"content-type": "application/json", "cookie": self.shape.cookie}
        try:
            answer = http_request(port, "POST", "/api", body=self.shape.body.encode(), headers=headers)
        except OSError as error:
            return f"no answer ({error})"
        return f"HTTP {answer.status} {answer.body[:300]!r}"

    def probe(self, running: Started, log: LogCounter) -> Probe:
        return Probe(running.pid, self.stand_in.running.pid, self.stand_in.counters, log, self._backing)

    @contextmanager
    def backed_by(self, *pids: int) -> Iterator[None]:
        """Runs measured meanwhile count these processes (and their children) as the bench's own work."""
        self._backing = pids
        try:
            yield
        finally:
            self._backing = ()

    @contextmanager
    def paired_ceiling(self) -> Iterator[None]:
        """The ceiling server the runs of scenarios compared with one worker are paired with."""
        port = str(free_port())
        command = [self.settings.python, str(BENCH_DIR / "ceiling_app.py"), "--workers", "1", "--port", port]
        with self.server("paired-ceiling", command, self.env()) as running:
            url = api_url(command)
            self.warm_up(url, self.settings.warmup)
            self._paired_ceiling = (
                Probe(running.pid, self.stand_in.running.pid, self.stand_in.counters),
                url,
            )
            try:
                yield
            finally:
                self._paired_ceiling = None

    def pairs(self, name: str) -> bool:
        """Whether ``name``'s runs are paired: it is compared with the one-worker ceiling, and is not it.

        The ceiling is always loaded as the ceiling scenario loads it, whatever the row's own load.
        """
        scenario = SCENARIOS.get(name)
        return (
            self._paired_ceiling is not None
            and scenario is not None
            and scenario.ceiling == "ceiling" != name
        )

    def _ceiling_half(self) -> LoadRun:
        if self._paired_ceiling is None:
            raise BenchError("no paired ceiling is running")
        probe, url = self._paired_ceiling
        return measure_run(probe, url, self.settings.seconds / 2, self._ceiling_shape)

    def measure(
        self, running: Started, url: str, label: str, log: LogCounter, *, pair: bool = False
    ) -> LoadRun:
        """One run, measured again (at most ``noisy_retries`` times) when other work disturbed it; with
        ``pair``, the ceiling is measured just before and just after it.

        Of the attempts, the fastest is kept (by share of its paired ceiling when paired): other
        work only ever slows a run down.
        """
        probe = self.probe(running, log)
        attempts: list[LoadRun] = []
        for attempt in range(1 + self.settings.noisy_retries):
            started = time.monotonic()
            before = self._ceiling_half() if pair else None
            run = measure_run(probe, url, self.settings.seconds, self.shape)
            if before is not None:
                run = run.paired_with(before, self._ceiling_half())
            if attempt:
                self.patience.left -= time.monotonic() - started
            print(report.run_line(label, run.to_json()), flush=True)
            attempts.append(run)
            if run.other_load_cores <= QUIET_CORES or attempt == self.settings.noisy_retries:
                break
            if self.patience.left < self.settings.seconds:
                print(f"  {label}: other work ran meanwhile, and the bench's patience is spent", flush=True)
                break
            print(f"  {label}: other work ran meanwhile; measuring again when the machine is quiet")
            self.patience.wait_for_quiet(30)
        return max(attempts, key=_share_or_speed)

    def profile(self, running: Started, url: str, label: str) -> Breakdown | None:
        py_spy, seconds = self.settings.py_spy, self.settings.profile_seconds
        if py_spy is None or label not in self.settings.profile:
            return None
        self.patience.wait_for_quiet(15)
        print(f"  {label}: profiling {seconds:.0f} s under load with py-spy", flush=True)
        wrk = start_wrk(url, seconds + 4, self.shape)
        try:
            time.sleep(1)
            before = thread_cpu(running.pid)
            output = self.workdir / f"{label}.pyspy.txt"
            record(py_spy, running.pid, seconds, output)
            after = thread_cpu(running.pid)
        finally:
            finish_wrk(wrk, timeout=seconds + 60)
        collapsed = output.read_text()
        saved = self.settings.results / f"{self.stamp}.{label}.collapsed.txt.gz"
        saved.write_bytes(gzip.compress(collapsed.encode()))
        samples = parse_collapsed(collapsed)
        return breakdown(samples, cpu_delta(before, after), seconds)

    # --- scenarios -------------------------------------------------------------------------------

    def ceiling(self, name: str, workers: int = 1) -> ScenarioResult:
        port = str(free_port())
        command = [
            self.settings.python,
            str(BENCH_DIR / "ceiling_app.py"),
            "--workers",
            str(workers),
            "--port",
            port,
        ]
        with self.server(name, command, self.env()) as running:
            return self._serve_scenario(name, running, command, runs=1)

    def served(
        self,
        name: str,
        delivery: str = "outbox",
        *,
        runs: int = 1,
        workers: int = 1,
        disk: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> ScenarioResult:
        """``eventgate serve`` with the service's defaults, but for ``delivery``, ``workers`` and ``env``;
        with ``disk``, the outbox's files are sampled over the measured runs."""
        command, full_env = self.eventgate_serve(name, delivery, workers, **(env or {}))
        with self.server(name, command, full_env) as running:
            outbox = self.outbox_path(name) if disk else None
            result = self._serve_scenario(name, running, command, runs=runs, outbox=outbox)
            result.profile = self.profile(running, api_url(command), name)
            result.notes["rss_peak_mib"] = round(memory_mib(running.pid, "VmHWM"), 1)
            return result

    def quiet(self, name: str) -> ScenarioResult:
        """The quiet outbox row, and with it the access log's cost as ``log_cost`` measures it."""
        result = self.served(name, env=QUIET)
        result.notes["log_cost"] = self.log_cost(name)
        return result

    def log_cost(self, name: str) -> dict[str, Any]:
        """The access log's CPU per request: a server as shipped and a quiet one, both loaded at once
        with half the connections each for ``log_cost_seconds``, ``log_cost_pairs`` times; the median
        of the differences.

        Two rows measured minutes apart differ by more than the log costs on a shared machine, and
        so did two servers loaded in turn seconds apart (differences of -2.5 to 68.9 µs in one bench).
        """
        seconds = self.settings.log_cost_seconds
        servers = {
            "logging": self.eventgate_serve(f"{name}-logging"),
            "quiet": self.eventgate_serve(f"{name}-alternated", **QUIET),
        }
        with ExitStack() as stack:
            targets = {}
            for which, (command, env) in servers.items():
                running = stack.enter_context(self.server(f"{name}-{which}", command, env))
                self.warm_up(api_url(command), self.settings.warmup)
                targets[which] = (running.pid, api_url(command))
            differences = []
            for pair in range(self.settings.log_cost_pairs):
                cpu = cpu_per_request_together(targets, seconds, self.shape)
                differences.append(round(cpu["logging"] - cpu["quiet"], 1))
                print(
                    f"  {name}: access log, pair {pair + 1}: {cpu['logging']:.1f} - {cpu['quiet']:.1f} us"
                    f" = {differences[-1]:.1f} us per request",
                    flush=True,
                )
        return {
            "pairs_us": differences,
            "median_us": statistics.median(differences),
            "seconds": seconds,
            "loaded": "together",
        }

    def session_cookies(self) -> Path:
        """A file of ``settings.sessions`` users' JWT cookies, one per line, minted once per bench."""
        cookies = self.workdir / "sessions.txt"
        if not cookies.exists():
            print(f"sessions: minting {self.settings.sessions:,} session cookies", flush=True)
            cookies.write_text(
                "".join(f"{cookie}\n" for cookie in mint_cookies(SECRET, self.settings.sessions))
            )
        return cookies

    @contextmanager
    def shaped(self, **changes: Any) -> Iterator[None]:
        """wrk sends something else than one user's small POST for the block (other cookies, a body)."""
        single = self.shape
        self.shape = replace(single, **changes)
        try:
            yield
        finally:
            self.shape = single

    def sessions(self, name: str, env: Mapping[str, str] | None = None) -> ScenarioResult:
        """Outbox mode with each request from the next of ``settings.sessions`` users: more sessions
        than the service remembers, so every request decrypts its cookie, the memo's worst case."""
        with self.shaped(cookies=self.session_cookies()):
            result = self.served(name, env=env)
            result.notes["sessions"] = self.settings.sessions
            return result

    def database_sessions(self, name: str, dialect: str, *, cache: bool) -> ScenarioResult:
        """Outbox mode with the sessions in a throwaway database (issue 21), ``settings.sessions``
        users in turn; the session cache on (the default) or off."""
        print(f"{name}: a throwaway {dialect} database with {self.settings.sessions:,} sessions", flush=True)
        with seeded_database(dialect, self.settings.sessions) as seeded:
            cookies = self.workdir / f"{name}-cookies.txt"
            cookies.write_text("".join(f"{cookie}\n" for cookie in seeded.cookies))
            env = dict(seeded.environment)
            if not cache:
                env["EVENTGATE_NEXTAUTH_SESSION_CACHE"] = "0"
            backing = () if seeded.server_pid is None else (seeded.server_pid,)
            with self.shaped(cookie=seeded.cookies[0], cookies=cookies), self.backed_by(*backing):
                result = self.served(name, env=env)
        result.notes["sessions"] = self.settings.sessions
        result.notes["database"] = dialect
        return result

    def strangers(self, name: str) -> ScenarioResult:
        """Outbox mode, every request without a session and with a large body of nested arrays: each
        is answered 401 from its headers, the body never read; what a refused request costs."""
        with self.shaped(cookie="", body=STRANGER_BODY, status=401):
            return self.served(name)

    def retention(self, name: str) -> ScenarioResult:
        """Outbox mode with a short ``EVENTGATE_OUTBOX_RETENTION``, loaded for ``plateau_seconds``
        while the outbox's files are sampled: once purges free pages, the files stop growing."""
        seconds = self.settings.retention
        command, env = self.eventgate_serve(name, EVENTGATE_OUTBOX_RETENTION=f"{seconds:g}")
        with self.server(name, command, env) as running:
            url = api_url(command)
            idle = round(tree_memory_mib(running.pid), 1)
            log = LogCounter(running.log)
            print(
                f"{name}: pid {running.pid}; warming up, then {self.settings.plateau_seconds:.0f} s of load"
            )
            self.warm_up(url, self.settings.warmup)
            sampler = DiskSampler(
                self.outbox_path(name), lambda: self.stand_in.counters().events, DISK_SAMPLE_SECONDS
            )
            with sampler:
                run = measure_run(self.probe(running, log), url, self.settings.plateau_seconds, self.shape)
            print(report.run_line(name, run.to_json()), flush=True)
        result = ScenarioResult(name=name, rss_idle_mib=idle, runs=[run])
        result.notes["retention_seconds"] = seconds
        result.notes["disk"] = sampler.samples
        return result

    def nextjs(self) -> ScenarioResult:
        """The original route: ``next start`` of ``bench/nextjs/`` (``prepare`` built it), measured alike."""
        port = free_port()
        command = nextjs_app.start_command(port)
        env = nextjs_app.environment(self.base_env(), secret=SECRET, bus_url=self.stand_in.url, port=port)
        with self.server("nextjs", command, env) as running:
            checked = self._check_nextjs_user(port)
            warmup = self.settings.nextjs_warmup
            result = self._serve_scenario("nextjs", running, command, runs=1, warmup=warmup)
            result.notes["user_check"] = checked
            result.notes["rss_peak_mib"] = round(memory_mib(running.pid, "VmHWM"), 1)
            return result

    def _check_nextjs_user(self, port: int) -> dict[str, Any]:
        """NextAuth reads the bench's cookie as the bench user, and the event the SDK sends carries it.

        The stand-in counts body bytes: the event of a request with the cookie must be longer than an
        anonymous request's (which the original route sends too, with no user) by exactly
        ``"user":{...}``.
        """
        answer = http_request(port, "GET", "/api/auth/session", headers={"cookie": self.shape.cookie})
        session = json.loads(answer.body) if answer.status == 200 else {}
        if not isinstance(session, dict) or session.get("user") != BENCH_USER:
            raise BenchError(
                f"NextAuth did not read the bench's cookie as {BENCH_USER}: "
                f"GET /api/auth/session answered {answer.status} {answer.body[:300]!r}"
            )
        with_user = self._event_bytes(port, self.shape.cookie)
        anonymous = self._event_bytes(port, None)
        expected = len('"user":' + json.dumps(BENCH_USER, separators=(",", ":")))
        if with_user - anonymous != expected:
            raise BenchError(
                f"the event of a signed-in request took {with_user} bytes at the stand-in and an anonymous "
                f"one {anonymous}: not the {expected} bytes of the user more"
            )
        print(
            f"nextjs: NextAuth reads the cookie as {BENCH_USER}; the event carries the user "
            f"({with_user} bytes at the stand-in, {anonymous} without the cookie)",
            flush=True,
        )
        return {
            "session_user": BENCH_USER,
            "event_bytes_signed_in": with_user,
            "event_bytes_anonymous": anonymous,
        }

    def _event_bytes(self, port: int, cookie: str | None) -> int:
        """The body bytes the stand-in received for one ``POST /api`` (which must send one event)."""
        headers = {"content-type": "application/json", **({"cookie": cookie} if cookie else {})}
        before = self.stand_in.counters()
        answer = http_request(port, "POST", "/api", body=self.shape.body.encode(), headers=headers)
        after = self.stand_in.counters()
        if answer.status != 200 or after.events - before.events != 1:
            raise BenchError(
                f"POST /api {'with' if cookie else 'without'} the cookie answered {answer.status} "
                f"{answer.body[:300]!r} and sent {after.events - before.events} events"
            )
        return after.bytes - before.bytes

    def _serve_scenario(
        self,
        name: str,
        running: Started,
        command: Sequence[str],
        runs: int,
        *,
        warmup: float | None = None,
        outbox: Path | None = None,
    ) -> ScenarioResult:
        url = api_url(command)
        idle = round(tree_memory_mib(running.pid), 1)
        warmup = self.settings.warmup if warmup is None else warmup
        print(f"{name}: pid {running.pid}, idle RSS {idle} MiB; warming up {warmup:.0f} s", flush=True)
        self.warm_up(url, warmup)
        log = LogCounter(running.log)
        pair = self.pairs(name)
        if outbox is None:
            measured = [
                self.measure(running, url, f"{name} run {n + 1}/{runs}", log, pair=pair) for n in range(runs)
            ]
            return ScenarioResult(name=name, rss_idle_mib=idle, runs=measured)
        with DiskSampler(outbox, lambda: self.stand_in.counters().events, DISK_SAMPLE_SECONDS) as sampler:
            measured = [
                self.measure(running, url, f"{name} run {n + 1}/{runs}", log, pair=pair) for n in range(runs)
            ]
        return ScenarioResult(name=name, rss_idle_mib=idle, runs=measured, notes={"disk": sampler.samples})

    @contextmanager
    def inngest_stand_in(self) -> Iterator[DrainSink]:
        """The stand-in every server already delivers to, as a drain's bus."""
        yield DrainSink(
            "inngest", {}, lambda: self.stand_in.counters().events, lambda: self.stand_in.counters().requests
        )

    def drain(self, name: str, bus: Callable[[], AbstractContextManager[DrainSink]]) -> DrainResult:
        """A standalone ``eventgate relay`` emptying a copy of the pre-filled outbox into ``bus``."""
        events = self.settings.drain_events
        prefilled, prefill_seconds = self.prefilled()
        path = self.outbox_path(name)
        shutil.copytree(prefilled.parent, path.parent)
        try:
            with bus() as sink:
                env = self.env(EVENTGATE_OUTBOX_PATH=str(path), **sink.env)
                print(f"{name}: eventgate relay into {sink.backend}", flush=True)
                with started([self.settings.eventgate, "relay"], env, self.workdir / f"{name}.log") as relay:
                    result = self._watch_drain(relay, events, sink)
                    pending = self._pending(env, relay) if result.complete else None
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        result = replace(result, prefill_seconds=round(prefill_seconds, 1), pending_after=pending)
        print(report.drain_line(result.to_json()), flush=True)
        return result

    def prefilled(self) -> tuple[Path, float]:
        """The outbox every drain starts from a copy of, filled once per bench, and how long it took."""
        path = self.outbox_path("prefilled")
        if self._prefill_seconds is None:
            events = self.settings.drain_events
            print(f"drain: pre-filling an outbox with {events:,} events", flush=True)
            self._prefill_seconds = self._prefill(path, events)
        return path, self._prefill_seconds

    def _prefill(self, path: Path, events: int) -> float:
        command = [self.settings.python, str(BENCH_DIR / "prefill.py"), str(path), "--events", str(events)]
        completed = subprocess.run(
            command, env=self.base_env(), capture_output=True, text=True, timeout=300, check=False
        )
        if completed.returncode != 0:
            raise BenchError(f"pre-filling the outbox failed: {completed.stderr[-2000:]}")
        seconds: float = json.loads(completed.stdout)["seconds"]
        return seconds

    def _watch_drain(self, relay: Started, events: int, sink: DrainSink) -> DrainResult:
        """Poll the bus until it has all ``events`` (or the timeout); time from the first arrival."""
        base, base_requests = sink.delivered(), sink.requests() if sink.requests else None
        deadline = time.monotonic() + self.settings.drain_timeout
        first_at: float | None = None
        cpu_at_first = broker_at_first = 0.0
        now = base
        while time.monotonic() < deadline and now - base < events:
            if relay.process.poll() is not None:
                raise BenchError(f"eventgate relay exited:\n{relay.log_tail()}")
            time.sleep(0.05)
            now = sink.delivered()
            if first_at is None and now > base:
                first_at, cpu_at_first = time.monotonic(), cpu_seconds(relay.pid)
                broker_at_first = cpu_seconds(sink.broker_pid) if sink.broker_pid else 0.0
        finished = time.monotonic()
        delivered = now - base
        seconds = finished - (first_at or finished)
        cpu = cpu_seconds(relay.pid) - cpu_at_first
        broker_cpu = cpu_seconds(sink.broker_pid) - broker_at_first if sink.broker_pid else None
        requests = sink.requests() - base_requests if sink.requests and base_requests is not None else None
        return DrainResult(
            backend=sink.backend,
            events=events,
            prefill_seconds=0.0,
            delivered=delivered,
            bus_requests=requests,
            seconds=round(seconds, 2),
            events_per_second=round(delivered / seconds, 1) if seconds > 0 else 0.0,
            relay_cpu_us_per_event=round(cpu / delivered * 1e6, 1) if delivered else 0.0,
            broker_cpu_us_per_event=round(broker_cpu / delivered * 1e6, 1)
            if broker_cpu is not None and delivered
            else None,
            relay_rss_mib=round(memory_mib(relay.pid), 1),
            pending_after=None,
            complete=delivered >= events,
        )

    def _pending(self, env: Mapping[str, str], relay: Started, timeout: float = 15.0) -> int | None:
        """Pending events once the relay has recorded its last deliveries (``eventgate outbox status``)."""
        deadline = time.monotonic() + timeout
        pending: int | None = None
        while time.monotonic() < deadline and relay.process.poll() is None:
            completed = subprocess.run(
                [self.settings.eventgate, "outbox", "status", "--json"],
                env=dict(env),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if completed.returncode == 0:
                pending = int(json.loads(completed.stdout)["pending"])
                if pending == 0:
                    return 0
            time.sleep(0.5)
        return pending


def api_url(command: Sequence[str]) -> str:
    """The ``POST /api`` URL of a server started with ``command`` (its last argument is the port)."""
    return f"http://{LOOPBACK}:{command[-1]}/api"


@contextmanager
def source_tree(ref: str | None, workdir: Path) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """Where the service's code comes from: the work tree, or a commit unpacked beside it.

    With a ``ref`` (``HEAD``, a branch, a commit), ``git archive`` unpacks it into the scratch folder
    and ``PYTHONPATH`` puts it before the work tree's editable install, so edits in progress in the
    work tree are not measured. The installed packages are the work tree's venv either way.
    """
    if ref is None:
        yield {}, {"source": "work tree", **machine.git_state(REPO)}
        return
    commit = machine.resolve_ref(REPO, ref)
    if commit is None:
        raise BenchError(f"git cannot resolve {ref!r}")
    source = workdir / "source"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {ref} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    yield {"PYTHONPATH": str(source)}, {"source": f"git {ref}", "commit": commit}


@contextmanager
def stand_in_started(settings: Settings, workdir: Path) -> Iterator[StandIn]:
    command = [settings.python, str(BENCH_DIR / "stand_in.py")]
    with started(command, dict(os.environ), workdir / "stand-in.log", stdout_pipe=True) as running:
        port = int(read_ready_line(running, "READY ", timeout=30).split()[1])
        yield StandIn(running, port)


def run(settings: Settings, stamp: str) -> dict[str, Any]:
    """Every scenario asked for; returns the results document that is saved as JSON."""
    began = time.monotonic()
    described = machine.describe(REPO, settings.venv_bin, settings.py_spy)
    patience = Patience(settings.patience)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eventgate-bench-") as scratch:
        workdir = Path(scratch)
        if "nextjs" in settings.scenarios:
            described["nextjs"], failure = prepare_nextjs(workdir)
            if failure is not None:
                results["nextjs"] = failure
        print("bench: checking that the machine is quiet", flush=True)
        described["busy_cores_before_start"] = patience.wait_for_quiet(30)
        with source_tree(settings.ref, workdir) as (code_env, measured):
            described["measured"] = measured
            with stand_in_started(settings, workdir) as stand_in:
                bench = Bench(
                    settings,
                    stamp=stamp,
                    workdir=workdir,
                    code_env=code_env,
                    stand_in=stand_in,
                    patience=patience,
                )
                paired = any(SCENARIOS[name].ceiling == "ceiling" != name for name in settings.scenarios)
                with bench.paired_ceiling() if paired else nullcontext():
                    for name in settings.scenarios:
                        if name not in results:
                            results[name] = run_scenario(bench, name)
    return {
        "started_at": stamp,
        "elapsed_seconds": round(time.monotonic() - began, 1),
        "machine": described,
        "settings": {
            "seconds": settings.seconds,
            "warmup_seconds": settings.warmup,
            "nextjs_warmup_seconds": settings.nextjs_warmup,
            "connections": settings.connections,
            "threads": settings.threads,
            "outbox_runs": settings.leak_runs,
            "profile_seconds": settings.profile_seconds,
            "drain_events": settings.drain_events,
            "log_cost_pairs": settings.log_cost_pairs,
            "log_cost_seconds": settings.log_cost_seconds,
            "body": LoadShape(0, 0, "").body,
            "service_env": dict(settings.service_env),
        },
        "scenarios": results,
        "verdicts": report.verdicts(results),
    }


def prepare_nextjs(workdir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Install and build the original route's app when needed: (what the machine JSON records, and
    the scenario's result if it cannot run)."""
    try:
        prepared = nextjs_app.prepare(workdir)
    except BenchError as error:
        print(f"nextjs: NOT MEASURED: {error}", file=sys.stderr, flush=True)
        return {"error": str(error), "versions": nextjs_app.installed_versions()}, {"error": str(error)}
    print(
        f"nextjs: Node.js {prepared.node}, "
        + ", ".join(f"{name} {version}" for name, version in prepared.versions.items())
        + f"; npm ci {'cached' if prepared.install_cached else f'{prepared.install_seconds} s'}, "
        f"next build {'cached' if prepared.build_cached else f'{prepared.build_seconds} s'}",
        flush=True,
    )
    return prepared.to_json(), None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A row of the table: its label, how the bench runs it, the ceiling it is a share of, and
    whether ``make bench`` runs it when ``--scenarios`` does not say."""

    label: str
    run: Callable[[Bench, str], ScenarioResult | DrainResult]
    ceiling: str = "ceiling"
    default: bool = True


SCENARIOS: dict[str, Scenario] = {
    "ceiling": Scenario("ceiling: bare Litestar", lambda bench, name: bench.ceiling(name)),
    "ceiling-2-workers": Scenario(
        "ceiling, 2 uvicorn workers",
        lambda bench, name: bench.ceiling(name, workers=2),
        ceiling="ceiling-2-workers",
    ),
    "nextjs": Scenario("Next.js route (original)", lambda bench, _: bench.nextjs()),
    "outbox": Scenario(
        "outbox, defaults (median run)",
        lambda bench, name: bench.served(name, runs=bench.settings.leak_runs, disk=True),
    ),
    "outbox-quiet": Scenario("outbox, log level warning", Bench.quiet),
    "sessions": Scenario("outbox, 4,096 users in turn, defaults", Bench.sessions),
    "sessions-quiet": Scenario(
        "outbox, 4,096 users in turn, log warning",
        lambda bench, name: bench.sessions(name, env=QUIET),
        default=False,
    ),
    "strangers": Scenario("outbox, anonymous 120 kB bodies (401)", Bench.strangers),
    "direct": Scenario("direct, defaults", lambda bench, name: bench.served(name, "direct")),
    "direct-quiet": Scenario(
        "direct, log level warning", lambda bench, name: bench.served(name, "direct", env=QUIET)
    ),
    "outbox-2-workers": Scenario(
        "outbox, defaults, serve --workers 2",
        lambda bench, name: bench.served(name, workers=2),
        ceiling="ceiling-2-workers",
    ),
    "database-sessions": Scenario(
        "database sessions, PostgreSQL, cache on",
        lambda bench, name: bench.database_sessions(name, "postgresql", cache=True),
    ),
    "database-sessions-nocache": Scenario(
        "database sessions, PostgreSQL, cache off",
        lambda bench, name: bench.database_sessions(name, "postgresql", cache=False),
    ),
    "database-sessions-mariadb": Scenario(
        "database sessions, MariaDB, cache on",
        lambda bench, name: bench.database_sessions(name, "mysql", cache=True),
        default=False,
    ),
    "database-sessions-mariadb-nocache": Scenario(
        "database sessions, MariaDB, cache off",
        lambda bench, name: bench.database_sessions(name, "mysql", cache=False),
        default=False,
    ),
    "outbox-retention": Scenario("outbox, defaults, short retention", Bench.retention),
    "drain": Scenario(
        "relay drain into the Inngest stand-in", lambda bench, name: bench.drain(name, bench.inngest_stand_in)
    ),
    "drain-nats": Scenario(
        "relay drain into NATS JetStream",
        lambda bench, name: bench.drain(name, lambda: private_nats(bench.workdir)),
    ),
    "drain-rabbitmq": Scenario(
        "relay drain into RabbitMQ", lambda bench, name: bench.drain(name, rabbitmq_queue)
    ),
    "outbox-postgres": Scenario(
        "outbox in PostgreSQL (private cluster), defaults", lambda bench, _: outbox_postgres.measure(bench)
    ),
}
"""Every scenario, in the order they run (each ceiling before the rows compared with it)."""
DEFAULT_SCENARIOS = tuple(name for name, scenario in SCENARIOS.items() if scenario.default)


def run_scenario(bench: Bench, name: str) -> dict[str, Any]:
    """One scenario's result as JSON; a scenario that fails is a row saying why, and the bench goes on."""
    scenario = SCENARIOS[name]
    described = {"label": scenario.label, "ceiling": scenario.ceiling}
    try:
        return {**described, **scenario.run(bench, name).to_json()}
    except Exception as error:  # any failure: the other scenarios' figures are worth keeping
        print(f"{name}: NOT MEASURED: {error}", file=sys.stderr, flush=True)
        return {**described, "error": f"{type(error).__name__}: {error}"}


def parse_arguments(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="eventgate's virtualenv")
    parser.add_argument("--py-spy", type=Path, help="py-spy binary; without it nothing is profiled")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results", help="where the JSON goes")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured run")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up before measuring a server")
    parser.add_argument(
        "--nextjs-warmup", type=float, default=20.0, help="warm-up of the Next.js route (Node.js's JIT)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--outbox-runs", type=int, default=3, help="back-to-back outbox runs (leak check)")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile", default="outbox,direct", help="scenarios to profile, comma-separated (outbox, direct)"
    )
    parser.add_argument("--drain-events", type=int, default=200_000)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument(
        "--log-cost-pairs",
        type=int,
        default=10,
        help="runs of both servers that measure the access log's cost",
    )
    parser.add_argument("--log-cost-seconds", type=float, default=5.0, help="length of each log-cost run")
    parser.add_argument(
        "--sessions",
        type=int,
        default=4096,
        help="users of the sessions scenario (more than the memo's 1,024)",
    )
    parser.add_argument(
        "--retention", type=float, default=1.0, help="EVENTGATE_OUTBOX_RETENTION of outbox-retention"
    )
    parser.add_argument(
        "--plateau-seconds",
        type=float,
        default=100.0,
        help="load of outbox-retention (purges run once a minute)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, of {', '.join(SCENARIOS)}; 'all' for every one (default: those but "
        + ", ".join(name for name in SCENARIOS if name not in DEFAULT_SCENARIOS)
        + ")",
    )
    parser.add_argument(
        "--ref", help="measure this git commit (e.g. HEAD) instead of the work tree with its edits"
    )
    parser.add_argument(
        "--noisy-retries", type=int, default=2, help="times to repeat a run that other work disturbed"
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=60.0,
        help="seconds, in all, to spend waiting for other work on the machine to stop and measuring again",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the servers, repeatable (e.g. EVENTGATE_RELAY_BATCH_SIZE=5000)",
    )
    arguments = parser.parse_args(argv)
    asked = (
        set(SCENARIOS) if arguments.scenarios == "all" else set(filter(None, arguments.scenarios.split(",")))
    )
    if arguments.sessions < 1:
        parser.error("--sessions must be at least 1")
    unknown = asked - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    scenarios = tuple(name for name in SCENARIOS if name in asked)  # the baselines first
    return Settings(
        venv_bin=arguments.venv.resolve() / "bin",
        results=arguments.results,
        seconds=arguments.seconds,
        warmup=arguments.warmup,
        nextjs_warmup=arguments.nextjs_warmup,
        connections=arguments.connections,
        threads=arguments.threads,
        leak_runs=arguments.outbox_runs,
        profile_seconds=arguments.profile_seconds,
        profile=tuple(arguments.profile.split(",")) if arguments.profile else (),
        drain_events=arguments.drain_events,
        drain_timeout=arguments.drain_timeout,
        log_cost_pairs=arguments.log_cost_pairs,
        log_cost_seconds=arguments.log_cost_seconds,
        sessions=arguments.sessions,
        retention=arguments.retention,
        plateau_seconds=arguments.plateau_seconds,
        py_spy=arguments.py_spy,
        patience=arguments.patience,
        noisy_retries=arguments.noisy_retries,
        ref=arguments.ref,
        scenarios=scenarios,
        service_env=dict(item.split("=", 1) for item in arguments.env),
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_arguments(argv)
    settings.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        document = run(settings, stamp)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    path = settings.results / f"{stamp}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(report.render(document))
    print(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
