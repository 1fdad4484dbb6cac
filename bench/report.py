"""The benchmark's table: measured figures, ratios to the ceiling and to the original route, verdicts.

Each row is one scenario of a results document (what ``run.py`` saves), in the order they ran, under
the label ``run.py`` gave it, compared with the ceiling it names (one uvicorn worker or two). The
targets of issues 18, 19 and 21 are in ``TARGETS``, one entry per scenario that has one; a verdict is
PASS or FAIL, or says why the row cannot be judged (error answers, an incomplete drain, no ceiling).

The original route is the ``nextjs`` scenario measured in the same run; only when it was not run (or
failed) does the ``/Next.js`` column fall back to issue 7's figure of 750 req/s, and the table says so.

Renders a saved run again, as the terminal table or as README's Performance section (markdown):
``.venv/bin/python bench/report.py [--readme] bench/results/<stamp>.json``.
"""

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Issue 7's reference figures (2 cores, one server process, 32 connections), not measured here.
ISSUE_NEXTJS_RPS = 750.0
ISSUE_NEXTJS_P99_MS = 85.0
FASTAPI_SDK_RPS = 900.0
ISSUE_CEILING_RPS = 17_000.0
# RSS may grow this much from the first to the last back-to-back outbox run before we call it a leak.
LEAK_TOLERANCE = 0.05
# Under steady load with a short retention, the outbox's main file may grow this much over the last
# third of the run before the row says it keeps growing.
PLATEAU_TOLERANCE = 0.05
QUIET_CORES = 0.2
"""Other load, in cores, above which a run's figures are flagged as disturbed (as ``load.py`` does)."""

MIB = 1024 * 1024


def _median_run(scenario: Mapping[str, Any]) -> Mapping[str, Any]:
    run: Mapping[str, Any] = scenario["median_run"]
    return run


def _clean(run: Mapping[str, Any]) -> bool:
    return bool(run["non_2xx"] == 0 and run["socket_errors"] == 0)


def ceiling_figures(
    name: str, run: Mapping[str, Any], scenarios: Mapping[str, Any]
) -> tuple[float, float] | None:
    """The req/s and CPU per request of the ceiling ``run`` of ``name`` is compared with: its paired
    ceiling, measured around it, when it has one; else the ceiling scenario's median run."""
    if run.get("paired_ceiling_rps"):
        return run["paired_ceiling_rps"], run.get("paired_ceiling_cpu_us") or 0.0
    ceiling = ceiling_of(name, scenarios)
    if ceiling is None:
        return None
    return ceiling["requests_per_second"], ceiling["cpu_us_per_request"]


def ceiling_of(name: str, scenarios: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The median run of the ceiling a scenario is compared with, if it ran cleanly."""
    ceiling = scenarios.get(scenarios[name].get("ceiling", "ceiling"))
    if not ceiling or "median_run" not in ceiling or not _clean(_median_run(ceiling)):
        return None
    return _median_run(ceiling)


class Target(Protocol):
    def describe(self) -> str: ...

    def judge(self, name: str, scenarios: Mapping[str, Any]) -> str:
        """PASS, FAIL, or why the row cannot be judged."""
        ...


def _passed(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@dataclass(frozen=True, slots=True)
class ShareOfCeiling:
    """req/s at least ``share`` of the ceiling's in the same run, and p99 at most ``p99_ms``."""

    share: float
    p99_ms: float | None = None

    def describe(self) -> str:
        p99 = f", p99 <={self.p99_ms:g} ms" if self.p99_ms is not None else ""
        return f">={self.share:.2f} of ceiling{p99}"

    def judge(self, name: str, scenarios: Mapping[str, Any]) -> str:
        run = _median_run(scenarios[name])
        if not _clean(run):
            return "ERRORS"
        ceiling = ceiling_figures(name, run, scenarios)
        if ceiling is None:
            return "NO CEILING"
        ok = run["requests_per_second"] >= self.share * ceiling[0]
        return _passed(ok and (self.p99_ms is None or run["p99_ms"] <= self.p99_ms))


@dataclass(frozen=True, slots=True)
class EventsPerSecond:
    """A drain delivering every event, at ``rate`` events/s or more."""

    rate: float

    def describe(self) -> str:
        return f">={self.rate:,.0f} events/s"

    def judge(self, name: str, scenarios: Mapping[str, Any]) -> str:
        drain = scenarios[name]
        if not drain["complete"]:
            return "INCOMPLETE"
        return _passed(drain["events_per_second"] >= self.rate)


@dataclass(frozen=True, slots=True)
class LogCost:
    """The access log's cost, at most ``us`` per request: the median difference in CPU per request of
    the alternated pairs this row measured (``log_cost``); from a run without them, the CPU per
    request of ``noisy`` (logging) less this row's.

    When both rows have paired ceilings, each row's CPU per request is taken in units of its own
    paired ceiling's, and the difference brought back to microseconds at the mean of the two: the
    machine's speed may differ between the two rows' runs.
    """

    noisy: str
    us: float

    def describe(self) -> str:
        return f"access log <={self.us:g} us/req"

    def judge(self, name: str, scenarios: Mapping[str, Any]) -> str:
        alternated = scenarios[name].get("log_cost")
        if alternated:
            return _passed(alternated["median_us"] <= self.us)
        noisy = scenarios.get(self.noisy)
        if not noisy or "median_run" not in noisy:
            return f"NO {self.noisy.upper()}"
        return _passed(log_cost(_median_run(noisy), _median_run(scenarios[name])) <= self.us)


def log_cost(noisy: Mapping[str, Any], quiet: Mapping[str, Any]) -> float:
    """CPU per request of the ``noisy`` run less the ``quiet`` one's (see ``LogCost``)."""
    noisy_ceiling, quiet_ceiling = noisy.get("paired_ceiling_cpu_us"), quiet.get("paired_ceiling_cpu_us")
    if not noisy_ceiling or not quiet_ceiling:
        return float(noisy["cpu_us_per_request"] - quiet["cpu_us_per_request"])
    units = noisy["cpu_us_per_request"] / noisy_ceiling - quiet["cpu_us_per_request"] / quiet_ceiling
    return float(units * (noisy_ceiling + quiet_ceiling) / 2)


@dataclass(frozen=True, slots=True)
class Plateau:
    """Under steady load, the outbox's files stop growing once purges free pages for reuse."""

    def describe(self) -> str:
        return f"file grows <{PLATEAU_TOLERANCE:.0%} in last third"

    def judge(self, name: str, scenarios: Mapping[str, Any]) -> str:
        growth = late_growth(scenarios[name].get("disk", []))
        if growth is None:
            return "NO SAMPLES"
        return _passed(growth < PLATEAU_TOLERANCE)


TARGETS: dict[str, Target] = {
    "outbox": ShareOfCeiling(0.70, p99_ms=10.0),
    "outbox-quiet": LogCost("outbox", 10.0),
    "sessions": ShareOfCeiling(0.60),
    "direct": ShareOfCeiling(0.60),
    "database-sessions": ShareOfCeiling(0.50),
    "outbox-retention": Plateau(),
    "drain": EventsPerSecond(80_000),
    "drain-nats": EventsPerSecond(20_000),
    "drain-rabbitmq": EventsPerSecond(20_000),
    "outbox-postgres": ShareOfCeiling(0.50, p99_ms=15.0),
}
"""The issues' targets (18: outbox, sessions, direct, the access log, the Inngest drain; 21: database
sessions with the cache on; 19: the NATS and RabbitMQ drains; 16: the outbox's disk; 20: the PostgreSQL
outbox, one instance), by scenario."""


def verdicts(scenarios: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each target's text and verdict, for the scenarios that ran (and did not fail outright)."""
    return {
        name: {"target": target.describe(), "verdict": target.judge(name, scenarios)}
        for name, target in TARGETS.items()
        if name in scenarios and "error" not in scenarios[name]
    }


# --- the terminal table ------------------------------------------------------------------------

COLUMNS = (
    ("scenario", 44, "<"),
    ("req/s", 8, ">"),
    ("p50 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("CPU us/req", 10, ">"),
    ("RSS idle/load MiB", 17, ">"),
    ("bus events/s", 12, ">"),
    ("log/req", 7, ">"),
    ("/ceiling", 8, ">"),
    ("/ceil CPU", 9, ">"),
    ("/Next.js", 8, ">"),
    ("target", 34, "<"),
    ("verdict", 7, "<"),
)


def run_line(label: str, run: Mapping[str, Any]) -> str:
    """One line per measured run (a ``LoadRun`` as JSON), printed as the benchmark goes."""
    line = (
        f"  {label}: {run['requests_per_second']:,.0f} req/s, p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, {run['cpu_us_per_request']:.0f} us CPU/req, "
        f"RSS {run['rss_mib_after']:.1f} MiB, bus {run['bus_events_per_second']:,.0f} events/s "
        f"in {run['bus_requests']:,} requests over {run.get('bus_connections', 0):,} new connections, "
        f"{run.get('log_lines', 0):,} log lines, other load {run['other_load_cores']:.2f} cores"
    )
    if backing := run.get("backing_cpu_us_per_request"):
        line += f", database {backing:.0f} us CPU/req"
    if not _clean(run):
        line += f"  !! {run['non_2xx']} non-2xx answers, {run['socket_errors']} socket errors"
    return line


def drain_line(drain: Mapping[str, Any]) -> str:
    """The drain's outcome (a ``DrainResult`` as JSON)."""
    requests = drain.get("bus_requests")
    return (
        f"  drain into {drain.get('backend', 'inngest')}: {drain['delivered']:,} of {drain['events']:,} "
        f"events in {drain['seconds']:.1f} s = {drain['events_per_second']:,.0f} events/s"
        + (f" in {requests:,} requests" if requests is not None else "")
        + f", relay CPU {drain['relay_cpu_us_per_event']:.1f} us/event"
        + (f", broker CPU {broker:.1f} us/event" if (broker := drain.get("broker_cpu_us_per_event")) else "")
    )


def _cells(values: Sequence[str]) -> str:
    cells = zip(values, COLUMNS, strict=True)
    return "  ".join(f"{value:{align}{width}}" for value, (_, width, align) in cells).rstrip()


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float, base: float | None) -> str:
    return "-" if not base else f"{value / base:.0%}"


def _times(value: float, base: float) -> str:
    return f"{value / base:.1f}x"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The original Next.js route's req/s, which the ``/Next.js`` column divides by."""

    rps: float
    measured: bool
    note: str


def nextjs_baseline(scenarios: Mapping[str, Any]) -> Baseline:
    """The ``nextjs`` scenario's req/s from this run; issue 7's 750 req/s only when it has none."""
    fallback = f"issue 7's {ISSUE_NEXTJS_RPS:,.0f} req/s, NOT measured"
    scenario = scenarios.get("nextjs")
    if scenario is None:
        return Baseline(
            ISSUE_NEXTJS_RPS, False, f"/Next.js: the nextjs scenario was not run; over {fallback}"
        )
    if "error" in scenario:
        return Baseline(
            ISSUE_NEXTJS_RPS, False, f"/Next.js: the nextjs scenario failed (below); over {fallback}"
        )
    run = _median_run(scenario)
    if not _clean(run):
        return Baseline(
            ISSUE_NEXTJS_RPS, False, f"/Next.js: the nextjs run had error answers; over {fallback}"
        )
    rps, cpu = run["requests_per_second"], run["cpu_us_per_request"]
    return Baseline(
        rps,
        True,
        f"/Next.js: over the original route measured in this run, {rps:,.0f} req/s ({cpu:,.0f} us CPU/req)",
    )


def label_of(name: str, scenario: Mapping[str, Any]) -> str:
    return str(scenario.get("label", name))


def _log_per_request(run: Mapping[str, Any]) -> float | None:
    return run["log_lines"] / run["requests"] if "log_lines" in run and run["requests"] else None


def _target_cells(name: str, scenarios: Mapping[str, Any], fallback: str = "") -> tuple[str, str]:
    if name in TARGETS:
        target = TARGETS[name]
        return target.describe(), target.judge(name, scenarios)
    run = scenarios[name].get("median_run")
    return fallback, "ERRORS" if run is not None and not _clean(run) else "-"


def _server_row(name: str, scenarios: Mapping[str, Any], baseline: Baseline) -> str:
    scenario = scenarios[name]
    run = _median_run(scenario)
    ceiling = ceiling_figures(name, run, scenarios)
    log = _log_per_request(run)
    target, verdict = _target_cells(name, scenarios)
    return _cells(
        (
            label_of(name, scenario),
            _number(run["requests_per_second"]),
            _number(run["p50_ms"], 2),
            _number(run["p99_ms"], 2),
            _number(run["cpu_us_per_request"], 1),
            f"{scenario['rss_idle_mib']:.1f} / {run['rss_mib_after']:.1f}",
            _number(run["bus_events_per_second"]) if run["bus_events"] else "-",
            "-" if log is None else f"{log:.2f}",
            _ratio(run["requests_per_second"], ceiling[0] if ceiling else None),
            _ratio(ceiling[1], run["cpu_us_per_request"]) if ceiling and ceiling[1] else "-",
            _times(run["requests_per_second"], baseline.rps),
            target,
            verdict,
        )
    )


def _drain_row(name: str, scenarios: Mapping[str, Any]) -> str:
    drain = scenarios[name]
    target, verdict = _target_cells(name, scenarios)
    return _cells(
        (
            label_of(name, drain),
            "-",
            "-",
            "-",
            f"{drain['relay_cpu_us_per_event']:.1f}/event",
            f"- / {drain['relay_rss_mib']:.1f}",
            _number(drain["events_per_second"]),
            "-",
            "-",
            "-",
            "-",
            target,
            verdict,
        )
    )


def _reference_row(
    name: str, rps: float, p99: float | None, ceiling: float | None, baseline: Baseline
) -> str:
    values = [name, _number(rps), "-", _number(p99, 0) if p99 else "-", "-", "-", "-", "-"]
    values += [_ratio(rps, ceiling), "-", _times(rps, baseline.rps), "(reference, not measured)", ""]
    return _cells(values)


def table(scenarios: Mapping[str, Any]) -> list[str]:
    lines = [_cells([name for name, _, _ in COLUMNS]), _cells(["-" * width for _, width, _ in COLUMNS])]
    baseline = nextjs_baseline(scenarios)
    for name, scenario in scenarios.items():
        if "error" in scenario:
            lines.append(_cells([label_of(name, scenario), *["-"] * 10, "", "FAILED"]))
        elif "median_run" in scenario:
            lines.append(_server_row(name, scenarios, baseline))
        else:
            lines.append(_drain_row(name, scenarios))
    ceiling = scenarios.get("ceiling", {}).get("median_run", {}).get("requests_per_second")
    lines.append(
        _reference_row("issue: Next.js route", ISSUE_NEXTJS_RPS, ISSUE_NEXTJS_P99_MS, ceiling, baseline)
    )
    lines.append(_reference_row("issue: FastAPI + inngest SDK", FASTAPI_SDK_RPS, None, ceiling, baseline))
    lines.append(_reference_row("issue: bare Litestar (ceiling)", ISSUE_CEILING_RPS, None, None, baseline))
    return lines


def nextjs_line(machine: Mapping[str, Any], scenarios: Mapping[str, Any]) -> list[str]:
    """What the original route ran on (versions, install and build), or why it could not run."""
    prepared = machine.get("nextjs")
    if prepared is None:
        return []
    if "error" in prepared or "error" in scenarios.get("nextjs", {}):
        error = prepared.get("error") or scenarios["nextjs"]["error"]
        return [f"Next.js route NOT MEASURED: {error[:600]}"]
    versions = ", ".join(f"{name} {version}" for name, version in prepared["versions"].items())
    install = "cached" if prepared["install_cached"] else f"{prepared['install_seconds']:.1f} s"
    build = "cached" if prepared["build_cached"] else f"{prepared['build_seconds']:.1f} s"
    line = f"Next.js route: {versions}, Node.js {prepared['node']}, next start (production); "
    return [line + f"npm ci {install}, next build {build}"]


def leak_check(outbox: Mapping[str, Any]) -> str:
    after = [run["rss_mib_after"] for run in outbox["runs"]]
    growth = after[-1] - after[0]
    verdict = "no growth" if growth <= LEAK_TOLERANCE * after[0] else "GROWS: possible leak"
    return (
        f"memory, outbox, one process, {len(after)} runs in a row: idle {outbox['rss_idle_mib']:.1f} MiB; "
        f"after each run {' / '.join(f'{value:.1f}' for value in after)} MiB; "
        f"peak {outbox.get('rss_peak_mib', float('nan')):.1f} MiB; first to last {growth:+.1f} MiB: {verdict}"
    )


def worst_other_load(scenarios: Mapping[str, Any]) -> float | None:
    runs = [run for scenario in scenarios.values() for run in scenario.get("runs", [])]
    return max(run["other_load_cores"] for run in runs) if runs else None


def machine_load(scenarios: Mapping[str, Any]) -> str:
    runs = [run for scenario in scenarios.values() for run in scenario.get("runs", [])]
    if not runs:
        return ""
    worst = max(run["other_load_cores"] for run in runs)
    wrk = max(run["wrk_cores"] for run in runs)
    warning = (
        "" if worst < QUIET_CORES else "  !! another process used the machine: figures are low; run again"
    )
    return (
        f"other load on the machine during runs: at most {worst:.2f} cores; wrk used up to {wrk:.2f}{warning}"
    )


# --- the outbox's files on disk ------------------------------------------------------------------


def _total(sample: Mapping[str, Any]) -> int:
    return int(sample["db"] + sample["wal"] + sample["shm"])


def late_growth(samples: Sequence[Mapping[str, Any]]) -> float | None:
    """How much the outbox's main file grew over the last third of a run, as a share of its size when
    that third began; ``None`` with fewer than three samples. The write-ahead log is left out: it
    swings as checkpoints run and is cut back to a bound, where the main file only ever grows."""
    if len(samples) < 3:
        return None
    begins = samples[2 * len(samples) // 3]["db"]
    return samples[-1]["db"] / begins - 1 if begins else None


def _sizes(sample: Mapping[str, Any]) -> str:
    return (
        f"{_total(sample) / MIB:.1f} MiB at {sample['seconds']:.0f} s "
        f"(db {sample['db'] / MIB:.1f} + wal {sample['wal'] / MIB:.1f} + shm {sample['shm'] / MIB:.1f})"
    )


def bytes_per_event(samples: Sequence[Mapping[str, Any]]) -> float | None:
    """Growth of the files per event delivered meanwhile, first sample to last (nothing purged)."""
    if len(samples) < 2:
        return None
    events = samples[-1]["delivered"] - samples[0]["delivered"]
    return (_total(samples[-1]) - _total(samples[0])) / events if events > 0 else None


def disk_lines(name: str, scenario: Mapping[str, Any]) -> list[str]:
    """The outbox's files over the run: start, middle, end, and what they say."""
    samples = scenario.get("disk", [])
    if not samples:
        return []
    start, middle, end = samples[0], samples[len(samples) // 2], samples[-1]
    lines = [
        f"disk, {label_of(name, scenario)}: {_sizes(start)}; {_sizes(middle)}; {_sizes(end)}",
    ]
    retention = scenario.get("retention_seconds")
    if retention is None:
        per_event = bytes_per_event(samples)
        if per_event is not None:
            lines.append(f"  {per_event:,.0f} bytes per delivered event, kept for the default retention")
        return lines
    growth = late_growth(samples)
    if growth is not None:
        wal = max(sample["wal"] for sample in samples)
        lines.append(
            f"  retention {retention:g} s: the main file grew {growth:.1%} over the last third of the run; "
            f"the write-ahead log was at most {wal / MIB:.1f} MiB"
        )
    return lines


def profile_section(name: str, scenario: Mapping[str, Any]) -> list[str]:
    profile = scenario.get("profile")
    if not profile:
        return []
    cpu = _median_run(scenario)["cpu_us_per_request"]
    lines = [f"where {name}'s CPU goes (py-spy, {profile['seconds']:.0f} s, scaled to {cpu:.0f} us/request):"]
    lines.append(f"  {'share':>6}  {'us/req':>7}  group")
    lines += [
        f"  {group['share']:>6.1%}  {group['us_per_request']:>7.1f}  {group['group']}"
        for group in profile["groups"]
        if group["share"] >= 0.005
    ]
    return lines


def measured_line(measured: Mapping[str, Any]) -> str:
    """Which code ran: a commit, or the work tree with how many files differed from its commit."""
    if not measured:
        return "measured: (not recorded)"
    edits = measured.get("modified_files", [])
    line = f"measured: {measured['source']} at {str(measured.get('commit'))[:10]}"
    if not edits:
        return line
    shown = ", ".join(edits[:6]) + (", ..." if len(edits) > 6 else "")
    return f"{line}, {len(edits)} files edited ({shown})"


def paired_line(scenarios: Mapping[str, Any]) -> list[str]:
    """How the one-worker rows' shares were taken, and how far the machine's speed drifted meanwhile."""
    paired = [
        run["paired_ceiling_rps"]
        for scenario in scenarios.values()
        for run in scenario.get("runs", ())
        if run.get("paired_ceiling_rps")
    ]
    if not paired:
        return []
    return [
        f"/ceiling of one-worker rows: of the ceiling loaded just before and after each run (paired); "
        f"those ceilings ranged {min(paired):,.0f}-{max(paired):,.0f} req/s over the bench"
    ]


def render(document: Mapping[str, Any]) -> str:
    scenarios = document["scenarios"]
    machine = document["machine"]
    settings = document["settings"]
    lines = [
        measured_line(machine.get("measured", {})),
        f"eventgate bench, {document['started_at']}: {machine['nproc']} x {machine['cpu_model']}, "
        f"{machine['memory_total_mib']:,} MiB, Python {machine['python']}; "
        f"wrk {settings['threads']} threads, {settings['connections']} connections, "
        f"{settings['seconds']:.0f} s per run; "
        f"took {document['elapsed_seconds']:.0f} s",
        "",
        *table(scenarios),
        nextjs_baseline(scenarios).note,
        *nextjs_line(machine, scenarios),
        *paired_line(scenarios),
        "",
    ]
    if "outbox" in scenarios and "runs" in scenarios["outbox"]:
        lines.append(leak_check(scenarios["outbox"]))
    if log := log_cost_line(scenarios):
        lines.append(log)
    lines += p99_floor_lines(scenarios, settings["connections"])
    for name, scenario in scenarios.items():
        lines += disk_lines(name, scenario)
    if load := machine_load(scenarios):
        lines.append(load)
    for name in ("outbox", "direct"):
        if name in scenarios and (section := profile_section(name, scenarios[name])):
            lines += ["", *section]
    return "\n".join(lines)


# --- README's Performance section ----------------------------------------------------------------

README_HEADING = "## Performance"


def _md_share(name: str, scenarios: Mapping[str, Any]) -> str:
    run = _median_run(scenarios[name])
    ceiling = ceiling_figures(name, run, scenarios)
    if ceiling is None or name == scenarios[name].get("ceiling", "ceiling"):
        return "-"
    return f"{run['requests_per_second'] / ceiling[0]:.2f}"


def _md_target(name: str, scenarios: Mapping[str, Any]) -> str:
    target, verdict = _target_cells(name, scenarios)
    return f"{target}: **{verdict}**" if target else "-"


def _md_server_row(name: str, scenarios: Mapping[str, Any], baseline: Baseline) -> str:
    run = _median_run(scenarios[name])
    log = _log_per_request(run)
    cells = (
        label_of(name, scenarios[name]),
        f"{run['requests_per_second']:,.0f}",
        f"{run['p99_ms']:.1f} ms",
        f"{run['cpu_us_per_request']:,.0f} µs",
        "-" if log is None else f"{log:.2f}",
        _md_share(name, scenarios),
        f"{run['requests_per_second'] / baseline.rps:.1f}x" if baseline.measured else "-",
        _md_target(name, scenarios),
    )
    return "| " + " | ".join(cells) + " |"


def _md_drain_row(name: str, scenarios: Mapping[str, Any]) -> str:
    drain = scenarios[name]
    cells = (
        label_of(name, drain),
        f"{drain['delivered']:,} of {drain['events']:,}",
        f"{drain['events_per_second']:,.0f}",
        f"{drain['relay_cpu_us_per_event']:.1f} µs",
        _md_target(name, scenarios),
    )
    return "| " + " | ".join(cells) + " |"


def _md_machine(document: Mapping[str, Any]) -> str:
    machine = document["machine"]
    packages = machine.get("packages", {})
    versions = ", ".join(
        f"{name} {packages[name]}" for name in ("litestar", "uvicorn", "msgspec") if packages.get(name)
    )
    measured = machine.get("measured", {})
    commit = str(measured.get("commit") or machine.get("git", {}).get("commit"))[:7]
    edits = len(measured.get("modified_files", []))
    code = f"commit `{commit}`" + (f" with {edits} files edited" if edits else "")
    stamp = document["started_at"]
    day = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} UTC"
    return (
        f"Measured {day} on {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['memory_total_mib'] / 1024:.0f} GiB, Linux {machine['kernel']}, Python {machine['python']}"
        f" ({versions}); {code}; wrk {document['settings']['connections']} connections, "
        f"{document['settings']['seconds']:g} s per run."
    )


def _md_load(scenarios: Mapping[str, Any]) -> str:
    worst = worst_other_load(scenarios)
    if worst is None:
        return ""
    if worst < QUIET_CORES:
        return f"The machine was quiet: other work used at most {worst:.2f} cores during the runs."
    return (
        f"**The machine was shared**: other work used up to {worst:.2f} of its cores during some runs, so "
        "those figures are low; the ratios, taken within the run, suffer less."
    )


def log_cost_line(scenarios: Mapping[str, Any]) -> str:
    """What the access log costs, from the pairs of runs that measured it, if any did."""
    for scenario in scenarios.values():
        if alternated := scenario.get("log_cost"):
            pairs = ", ".join(f"{difference:g}" for difference in alternated["pairs_us"])
            return (
                f"The access log costs {alternated['median_us']:g} µs of CPU per request: the median of "
                f"{len(alternated['pairs_us'])} pairs of {alternated['seconds']:g} s runs, a server as shipped "
                f"and a quiet one loaded {'at once' if alternated.get('loaded') == 'together' else 'in turn'}"
                f" ({pairs} µs)."
            )
    return ""


def p99_floor_lines(scenarios: Mapping[str, Any], connections: int) -> list[str]:
    """What each p99 target asks of throughput on this machine.

    With ``connections`` requests always in flight, the mean latency is ``connections`` / req/s
    (Little's law), so a p99 target is also a throughput target: at the spread the bare ceiling
    itself shows (its p99 over its mean), the p99 is met only from the req/s given here.
    """
    lines = []
    for name, target in TARGETS.items():
        if not isinstance(target, ShareOfCeiling) or target.p99_ms is None or name not in scenarios:
            continue
        ceiling = ceiling_of(name, scenarios)
        if ceiling is None or "median_run" not in scenarios[name]:
            continue
        spread = ceiling["p99_ms"] / (connections / ceiling["requests_per_second"] * 1000)
        needed = connections * spread / target.p99_ms * 1000
        lines.append(
            f"- {label_of(name, scenarios[name])}: p99 <={target.p99_ms:g} ms at {connections} connections "
            f"needs {needed:,.0f} req/s at the ceiling's own spread (its p99 is {spread:.2f} times its "
            f"mean latency, {connections} / req/s): {needed / ceiling['requests_per_second']:.2f} times "
            "the ceiling's req/s."
        )
    return lines


def _md_disk(scenarios: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, scenario in scenarios.items():
        samples = scenario.get("disk", [])
        if not samples:
            continue
        start, middle, end = (_total(samples[i]) / MIB for i in (0, len(samples) // 2, -1))
        sizes = f"{start:.1f}, {middle:.1f} and {end:.1f} MiB at the start, middle and end of the load"
        if scenario.get("retention_seconds") is None:
            per_event = bytes_per_event(samples)
            each = f" ({per_event:,.0f} bytes per delivered event)" if per_event is not None else ""
            lines.append(f"- {label_of(name, scenario)}: the outbox's files (db + wal + shm) {sizes}{each}.")
        else:
            _, verdict = _target_cells(name, scenarios)
            growth = late_growth(samples)
            wal = max(sample["wal"] for sample in samples) / MIB
            grew = f"; the main file grew {growth:.1%} over the last third" if growth is not None else ""
            lines.append(
                f"- {label_of(name, scenario)}: {sizes}{grew}, the write-ahead log was at most "
                f"{wal:.1f} MiB: **{verdict}**."
            )
    return lines


def readme_section(document: Mapping[str, Any], results_path: str) -> str:
    """README's Performance section, made from one results document (``results_path`` names it)."""
    scenarios = document["scenarios"]
    servers = [name for name, scenario in scenarios.items() if "median_run" in scenario]
    drains = [name for name, scenario in scenarios.items() if "events_per_second" in scenario]
    failed = [label_of(name, scenario) for name, scenario in scenarios.items() if "error" in scenario]
    baseline = nextjs_baseline(scenarios)
    lines = [
        README_HEADING,
        "",
        f"`make bench` (loopback only, {document['elapsed_seconds'] / 60:.0f} minutes in this run;",
        "`bench/README.md` explains it) runs each server on uvicorn and loads it with wrk, beside a bare",
        "Litestar handler on the same uvicorn (the ceiling: the share below is of the ceiling with as many",
        "workers, from the same run; with one worker, of the ceiling loaded for half a run just before and",
        "half a run just after each run, as a shared machine's speed drifts over minutes). The rows say",
        "*defaults* where the service runs as shipped: the JSON",
        "access log at info, the output going to a file as a container runtime takes it (log lines per",
        f"request counts what it wrote). This section is generated from `{results_path}` by",
        f"`.venv/bin/python bench/report.py --readme {results_path}`.",
        "",
        _md_machine(document),
    ]
    if load := _md_load(scenarios):
        lines += ["", load]
    lines += [
        "",
        "| | req/s | p99 | CPU per request | log lines per request | share of the ceiling | over the Next.js route | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_md_server_row(name, scenarios, baseline) for name in servers),
    ]
    if drains:
        lines += [
            "",
            "| standalone `eventgate relay` draining a pre-filled outbox | delivered | events/s | CPU per event | target |",
            "| --- | --- | --- | --- | --- |",
            *(_md_drain_row(name, scenarios) for name in drains),
        ]
    if log := log_cost_line(scenarios):
        lines += ["", log]
    if floors := p99_floor_lines(scenarios, document["settings"]["connections"]):
        lines += ["", "What the p99 targets ask of throughput on this machine:", "", *floors]
    if disk := _md_disk(scenarios):
        lines += ["", "The outbox on disk under steady load:", "", *disk]
    if failed:
        lines += ["", "Not measured in this run (the scenario failed): " + ", ".join(failed) + "."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="print a saved bench run again")
    parser.add_argument("--readme", action="store_true", help="as README's Performance section (markdown)")
    parser.add_argument("results", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    for path in arguments.results:
        document = json.loads(path.read_text())
        print(readme_section(document, path.as_posix()) if arguments.readme else render(document), end="")
        if not arguments.readme:
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
