"""What the benchmark ran on and against: hardware, software versions, and the code's git state."""

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = (
    "eventgate",
    "litestar",
    "msgspec",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
    "httpcore",
    "cryptography",
    "dependency-injector",
)


def describe(repo: Path, venv_bin: Path, py_spy: Path | None) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "memory_total_mib": memory_total_mib(),
        "kernel": platform.release(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "python": _output([str(venv_bin / "python"), "-c", "import sys; print(sys.version.split()[0])"]),
        "packages": package_versions(venv_bin),
        "wrk": first_line(_output(["wrk", "-v"])),
        "py_spy": _output([str(py_spy), "--version"]) if py_spy is not None else None,
        "git": git_state(repo),
    }


def first_line(text: str) -> str | None:
    return text.splitlines()[0] if text else None


def cpu_model() -> str | None:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return None


def memory_total_mib() -> int | None:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def package_versions(venv_bin: Path) -> dict[str, str | None]:
    """Versions as the service's own interpreter sees them (the bench driver may run elsewhere)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def v(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({name: v(name) for name in sys.argv[1:]}))\n"
    )
    text = _output([str(venv_bin / "python"), "-c", script, *PACKAGES])
    if not text:
        return dict.fromkeys(PACKAGES)
    versions: dict[str, str | None] = json.loads(text)
    return versions


def git_state(repo: Path) -> dict[str, Any]:
    """The commit measured and whether the work tree differed from it (other work in progress)."""
    changed = _output(["git", "-C", str(repo), "diff", "HEAD", "--name-only"])
    return {
        "commit": _output(["git", "-C", str(repo), "rev-parse", "HEAD"]),
        "branch": _output(["git", "-C", str(repo), "rev-parse", "--abbrev-ref", "HEAD"]),
        "modified_files": changed.splitlines(),
    }


def resolve_ref(repo: Path, ref: str) -> str | None:
    """The commit a git ref names, or ``None``."""
    return _output(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]) or None


def _output(command: list[str]) -> str:
    """A command's stripped stdout (stderr when stdout is empty, as ``wrk -v`` prints), or ``""``."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return (completed.stdout.strip() or completed.stderr.strip()) if completed.returncode in (0, 1) else ""
