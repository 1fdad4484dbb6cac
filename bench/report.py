"""The benchmark's table: measured figures, ratios to the ceiling and to the original route, targets.

The original route is the ``nextjs`` scenario measured in the same run; only when it was not run (or
failed) do the ratios fall back to issue 7's figure of 750 req/s, and the table says so.

Renders a results document (what ``run.py`` saves), so a saved run can be shown again:
``.venv/bin/python bench/report.py bench/results/<stamp>.json``.
"""

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Issue 7's reference figures (2 cores, one server process, 32 connections), not measured here.
ISSUE_NEXTJS_RPS = 750.0
ISSUE_NEXTJS_P99_MS = 85.0
FASTAPI_SDK_RPS = 900.0
ISSUE_CEILING_RPS = 17_000.0
# Issue 7's targets.
OUTBOX_SHARE_OF_CEILING = 0.60
OUTBOX_P99_MS = 10.0
DIRECT_TIMES_NEXTJS = 5.0
DRAIN_EVENTS_PER_SECOND = 50_000.0
# RSS may grow this much from the first to the last back-to-back outbox run before we call it a leak.
LEAK_TOLERANCE = 0.05

COLUMNS = (
    ("scenario", 30, "<"),
    ("req/s", 8, ">"),
    ("p50 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("CPU us/req", 10, ">"),
    ("RSS idle/load MiB", 17, ">"),
    ("bus events/s", 12, ">"),
    ("/ceiling", 8, ">"),
    ("/ceil CPU", 9, ">"),
    ("/Next.js", 8, ">"),
    ("target", 32, "<"),
    ("verdict", 7, "<"),
)


def run_line(label: str, run: Mapping[str, Any]) -> str:
    """One line per measured run (a ``LoadRun`` as JSON), printed as the benchmark goes."""
    line = (
        f"  {label}: {run['requests_per_second']:,.0f} req/s, p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, {run['cpu_us_per_request']:.0f} us CPU/req, "
        f"RSS {run['rss_mib_after']:.1f} MiB, bus {run['bus_events_per_second']:,.0f} events/s "
        f"in {run['bus_requests']:,} requests over {run.get('bus_connections', 0):,} new connections, "
        f"other load {run['other_load_cores']:.2f} cores"
    )
    if not _clean(run):
        line += f"  !! {run['non_2xx']} non-2xx answers, {run['socket_errors']} socket errors"
    return line


def drain_line(drain: Mapping[str, Any]) -> str:
    """The drain's outcome (a ``DrainResult`` as JSON)."""
    return (
        f"  drain: {drain['delivered']:,} of {drain['events']:,} events in {drain['seconds']:.1f} s = "
        f"{drain['events_per_second']:,.0f} events/s in {drain['bus_requests']:,} requests, "
        f"relay CPU {drain['relay_cpu_us_per_event']:.1f} us/event"
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


def _verdict(passed: bool, clean: bool = True) -> str:
    if not clean:
        return "ERRORS"
    return "PASS" if passed else "FAIL"


def _clean(run: Mapping[str, Any]) -> bool:
    return bool(run["non_2xx"] == 0 and run["socket_errors"] == 0)


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The ceiling run's throughput and CPU per request, which the other rows are compared with."""

    rps: float | None = None
    cpu_us: float | None = None

    def throughput_ratio(self, rps: float) -> str:
        return _ratio(rps, self.rps)

    def cpu_ratio(self, cpu_us: float) -> str:
        """The ceiling's CPU per request over this row's: its throughput share on an idle core."""
        return _ratio(self.cpu_us or 0.0, cpu_us) if self.cpu_us else "-"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The original Next.js route's req/s, which the ``/Next.js`` column and direct's target divide by."""

    rps: float
    measured: bool
    note: str

    @property
    def direct_target(self) -> float:
        return DIRECT_TIMES_NEXTJS * self.rps


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
    run = scenario["median_run"]
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


def _server_row(
    name: str,
    scenario: Mapping[str, Any],
    ceiling: Ceiling,
    baseline: Baseline,
    *,
    target: str = "",
    ok: bool | None = None,
) -> str:
    """One server's measured row; ``ok`` is whether it met ``target`` (``None``: it has no target)."""
    run = scenario["median_run"]
    return _cells(
        (
            name,
            _number(run["requests_per_second"]),
            _number(run["p50_ms"], 2),
            _number(run["p99_ms"], 2),
            _number(run["cpu_us_per_request"], 1),
            f"{scenario['rss_idle_mib']:.1f} / {run['rss_mib_after']:.1f}",
            _number(run["bus_events_per_second"]) if run["bus_events"] else "-",
            ceiling.throughput_ratio(run["requests_per_second"]),
            ceiling.cpu_ratio(run["cpu_us_per_request"]),
            _times(run["requests_per_second"], baseline.rps),
            target,
            "-" if ok is None and _clean(run) else _verdict(bool(ok), _clean(run)),
        )
    )


def table(scenarios: Mapping[str, Any]) -> list[str]:
    lines = [_cells([name for name, _, _ in COLUMNS]), _cells(["-" * width for _, width, _ in COLUMNS])]
    ceiling = Ceiling()
    baseline = nextjs_baseline(scenarios)
    if measured := scenarios.get("ceiling"):
        run = measured["median_run"]
        ceiling = Ceiling(run["requests_per_second"], run["cpu_us_per_request"])
        lines.append(_server_row("ceiling: bare Litestar", measured, ceiling, baseline))
    if nextjs := scenarios.get("nextjs"):
        name, target = "Next.js route (original)", "(the baseline)"
        if "error" in nextjs:
            lines.append(_cells([name, *["-"] * 9, target, "FAILED"]))
        else:
            lines.append(_server_row(name, nextjs, ceiling, baseline, target=target))
    if outbox := scenarios.get("outbox"):
        run = outbox["median_run"]
        ok = bool(ceiling.rps) and run["requests_per_second"] >= OUTBOX_SHARE_OF_CEILING * (ceiling.rps or 0)
        ok = ok and run["p99_ms"] < OUTBOX_P99_MS
        target = f">={OUTBOX_SHARE_OF_CEILING:.0%} of ceiling, p99 <{OUTBOX_P99_MS:.0f} ms"
        lines.append(
            _server_row("outbox (default), median run", outbox, ceiling, baseline, target=target, ok=ok)
        )
    if sessions := scenarios.get("sessions"):
        name = f"outbox, {sessions.get('sessions', 0):,} sessions in turn"
        lines.append(_server_row(name, sessions, ceiling, baseline, target="(every cookie decrypted)"))
    if strangers := scenarios.get("strangers"):
        name = "outbox, anonymous 120 kB bodies (401)"
        lines.append(_server_row(name, strangers, ceiling, baseline, target="(answered from the headers)"))
    if direct := scenarios.get("direct"):
        ok = direct["median_run"]["requests_per_second"] >= baseline.direct_target
        times = f"{DIRECT_TIMES_NEXTJS:.0f}x " + ("Next.js" if baseline.measured else "issue's 750")
        target = f">={baseline.direct_target:,.0f} req/s ({times})"
        lines.append(_server_row("direct", direct, ceiling, baseline, target=target, ok=ok))
    if drain := scenarios.get("drain"):
        lines.append(_drain_row(drain))
    lines.append(
        _reference_row("issue: Next.js route", ISSUE_NEXTJS_RPS, ISSUE_NEXTJS_P99_MS, ceiling, baseline)
    )
    lines.append(_reference_row("issue: FastAPI + inngest SDK", FASTAPI_SDK_RPS, None, ceiling, baseline))
    lines.append(
        _reference_row("issue: bare Litestar (ceiling)", ISSUE_CEILING_RPS, None, Ceiling(), baseline)
    )
    return lines


def _drain_row(drain: Mapping[str, Any]) -> str:
    ok = drain["complete"] and drain["events_per_second"] >= DRAIN_EVENTS_PER_SECOND
    return _cells(
        (
            f"relay drain, {drain['events']:,} events",
            "-",
            "-",
            "-",
            f"{drain['relay_cpu_us_per_event']:.1f}/event",
            f"- / {drain['relay_rss_mib']:.1f}",
            _number(drain["events_per_second"]),
            "-",
            "-",
            "-",
            f">={DRAIN_EVENTS_PER_SECOND:,.0f} events/s",
            _verdict(ok) if drain["complete"] else "INCOMPLETE",
        )
    )


def _reference_row(name: str, rps: float, p99: float | None, ceiling: Ceiling, baseline: Baseline) -> str:
    values = [name, _number(rps), "-", _number(p99, 0) if p99 else "-", "-", "-", "-"]
    values += [ceiling.throughput_ratio(rps), "-", _times(rps, baseline.rps), "(reference, not measured)", ""]
    return _cells(values)


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


def machine_load(scenarios: Mapping[str, Any]) -> str:
    runs = [run for scenario in scenarios.values() for run in scenario.get("runs", [])]
    if not runs:
        return ""
    worst = max(run["other_load_cores"] for run in runs)
    wrk = max(run["wrk_cores"] for run in runs)
    warning = "" if worst < 0.1 else "  !! another process used the machine: figures are low; run again"
    return (
        f"other load on the machine during runs: at most {worst:.2f} cores; wrk used up to {wrk:.2f}{warning}"
    )


def profile_section(name: str, scenario: Mapping[str, Any]) -> list[str]:
    profile = scenario.get("profile")
    if not profile:
        return []
    cpu = scenario["median_run"]["cpu_us_per_request"]
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
        "",
    ]
    if "outbox" in scenarios:
        lines.append(leak_check(scenarios["outbox"]))
    if load := machine_load(scenarios):
        lines.append(load)
    for name in ("outbox", "direct"):
        if name in scenarios and (section := profile_section(name, scenarios[name])):
            lines += ["", *section]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    for path in argv:
        print(render(json.loads(Path(path).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
