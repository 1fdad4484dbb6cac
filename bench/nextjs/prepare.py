"""The original Next.js route, ready to start: ``npm ci`` and ``next build`` here, each only when needed.

``bench/nextjs/`` is a Next.js App Router app with the route eventgate replaces (``app/api/route.js``)
and NextAuth's own endpoints. Its dependencies are pinned by the committed ``package-lock.json``.

- ``npm ci`` runs only when ``node_modules`` was not installed from the current package files (a
  stamp in ``node_modules`` records their digest, as ``tests/interop`` does);
- ``next build`` runs only when ``.next`` was not built from the current sources, package files and
  Node.js version (a stamp in ``.next``).

Both folders are ignored by git. Imported by ``bench/run.py``, whose folder is on ``sys.path``.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from procs import LOOPBACK, BenchError

APP = Path(__file__).resolve().parent
PACKAGES = ("next", "next-auth", "inngest", "react", "react-dom")
MINIMUM_NODE = (20, 9)  # next 16's "engines"
_INSTALL_INPUTS = ("package.json", "package-lock.json", ".npmrc")
_INSTALL_STAMP = Path("node_modules", ".eventgate-installed-from")
_BUILD_STAMP = Path(".next", ".eventgate-built-from")
_NOT_SOURCES = frozenset({"node_modules", ".next", "__pycache__"})
_INSTALL_TIMEOUT = 900
_BUILD_TIMEOUT = 900


class NextjsUnavailable(BenchError):
    """The app cannot be installed, built or started here; the message says why."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """What ``prepare`` did: seconds spent on ``npm ci`` and ``next build`` (0 when cached), versions."""

    node: str
    versions: dict[str, str | None]
    install_seconds: float
    install_cached: bool
    build_seconds: float
    build_cached: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def prepare(log_dir: Path) -> Prepared:
    """Install and build the app if its stamps say so; raise ``NextjsUnavailable`` with the reason."""
    node, npm = _executable("node"), _executable("npm")
    version = _node_version(node)
    install_digest = _digest(APP / name for name in _INSTALL_INPUTS)
    install_seconds, install_cached = _once(
        APP / _INSTALL_STAMP,
        install_digest,
        [npm, "ci", "--no-audit", "--no-fund"],
        log_dir / "nextjs-npm-ci.log",
        what="npm ci",
        timeout=_INSTALL_TIMEOUT,
    )
    build_digest = _digest(sorted(_sources()), extra=f"{install_digest}\0{version}")
    build_seconds, build_cached = _once(
        APP / _BUILD_STAMP,
        build_digest,
        [node, str(_next_cli()), "build", str(APP)],
        log_dir / "nextjs-build.log",
        what="next build",
        timeout=_BUILD_TIMEOUT,
    )
    return Prepared(
        node=version,
        versions=installed_versions(),
        install_seconds=install_seconds,
        install_cached=install_cached,
        build_seconds=build_seconds,
        build_cached=build_cached,
    )


def start_command(port: int) -> list[str]:
    """``next start`` of the built app on a loopback port (the last argument, as ``run.py`` expects)."""
    return [_executable("node"), str(_next_cli()), "start", str(APP), "-H", LOOPBACK, "-p", str(port)]


def environment(base: Mapping[str, str], *, secret: str, bus_url: str, port: int) -> dict[str, str]:
    """The server's environment: ``base`` without anything that configures NextAuth or Inngest, then
    the bench's secret, and the Inngest SDK in production mode sending to ``bus_url`` (loopback).

    The SDK (inngest 3.x, ``components/Inngest.js``) sends to ``INNGEST_EVENT_API_BASE_URL``, else
    ``INNGEST_BASE_URL``, else Inngest Cloud; both are set so that nothing can leave loopback.
    ``INNGEST_DEV=0`` is its explicit production mode, which needs ``INNGEST_EVENT_KEY``.
    """
    env = {name: value for name, value in base.items() if not _configures_app(name)}
    env.update(
        NODE_ENV="production",
        NEXT_TELEMETRY_DISABLED="1",
        NEXTAUTH_SECRET=secret,
        NEXTAUTH_URL=f"http://{LOOPBACK}:{port}",
        INNGEST_DEV="0",
        INNGEST_EVENT_KEY="bench",
        INNGEST_BASE_URL=bus_url,
        INNGEST_EVENT_API_BASE_URL=bus_url,
    )
    return env


def installed_versions() -> dict[str, str | None]:
    """Versions of the app's main packages as installed in ``node_modules``."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        manifest = APP / "node_modules" / name / "package.json"
        try:
            versions[name] = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            versions[name] = None
    return versions


def _once(
    stamp: Path, digest: str, command: list[str], log: Path, *, what: str, timeout: int
) -> tuple[float, bool]:
    """Run ``command`` in the app folder unless ``stamp`` holds ``digest``; (seconds, whether cached)."""
    if stamp.is_file() and stamp.read_text() == digest:
        return 0.0, True
    print(f"nextjs: {what} in bench/{APP.name}/ (again only when its inputs change)", flush=True)
    env = {name: value for name, value in os.environ.items() if not _configures_app(name)}
    env["NEXT_TELEMETRY_DISABLED"] = "1"
    started = time.monotonic()
    try:
        with log.open("w") as sink:
            completed = subprocess.run(
                command, cwd=APP, env=env, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
    except subprocess.TimeoutExpired:
        tail = log.read_text(errors="replace")[-3000:]
        raise NextjsUnavailable(f"{what} did not finish within {timeout} s:\n{tail}") from None
    seconds = round(time.monotonic() - started, 1)
    if completed.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise NextjsUnavailable(f"{what} failed (exit {completed.returncode}) after {seconds} s:\n{tail}")
    stamp.write_text(digest)
    print(f"nextjs: {what} took {seconds} s", flush=True)
    return seconds, False


def _configures_app(name: str) -> bool:
    """Whether an inherited variable could change the app: Inngest's, NextAuth's, Next.js's, NODE_ENV."""
    return "INNGEST" in name or name.startswith(("NEXTAUTH", "AUTH_", "NEXT_", "NODE_ENV"))


def _sources() -> list[Path]:
    """The app's own files (what ``next build`` compiles), without installed or built folders."""
    found = []
    for folder, subfolders, files in os.walk(APP):
        subfolders[:] = [name for name in subfolders if name not in _NOT_SOURCES]
        found += [Path(folder, name) for name in files if not name.endswith((".py", ".pyc"))]
    return found


def _digest(paths: Iterable[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        if path.is_file():
            digest.update(str(path.relative_to(APP)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _next_cli() -> Path:
    return APP / "node_modules" / "next" / "dist" / "bin" / "next"


def _node_version(node: str) -> str:
    completed = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False)
    version = completed.stdout.strip()
    try:
        major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    except ValueError:
        raise NextjsUnavailable(f"`node --version` printed {version!r}") from None
    if (major, minor) < MINIMUM_NODE:
        wanted = ".".join(map(str, MINIMUM_NODE))
        raise NextjsUnavailable(f"next 16 needs Node.js {wanted} or newer; this machine has {version}")
    return version


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NextjsUnavailable(f"`{name}` is not on PATH: the nextjs scenario needs Node.js 20 and npm")
    return path
