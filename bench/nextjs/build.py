"""A Next.js app folder of this repository, ready to start: ``npm ci`` and ``next build`` there, each only when needed.

Shared by the bench (``bench/nextjs/``, the original route, through ``prepare.py``) and the browser
test (``examples/nextjs/``, through ``tests/browser/``). Each app's dependencies are pinned by its
committed ``package-lock.json``.

- ``npm ci`` runs only when ``node_modules`` was not installed from the current package files (a
  stamp in ``node_modules`` records their digest, as ``tests/interop`` does);
- ``next build`` runs only when ``.next`` was not built from the current sources, package files,
  Node.js version and build environment (a stamp in ``.next``). The build environment holds what a
  build fixes for good, such as the destinations of ``rewrites()``; ``built_with`` tells what the
  current build was made with.

Both folders are ignored by git. The module imports only the standard library: the bench imports it
as ``nextjs.build`` (its folder on ``sys.path``), the tests as ``bench.nextjs.build``.
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

MINIMUM_NODE = (20, 9)  # next 16's "engines"
_INSTALL_INPUTS = ("package.json", "package-lock.json", ".npmrc")
_INSTALL_STAMP = Path("node_modules", ".eventgate-installed-from")
_BUILD_STAMP = Path(".next", ".eventgate-built-from")
_BUILD_ENVIRONMENT = Path(".next", ".eventgate-built-with.json")
_NOT_SOURCES = frozenset({"node_modules", ".next", "__pycache__"})
_INSTALL_TIMEOUT = 900
_BUILD_TIMEOUT = 900


class NextjsUnavailable(RuntimeError):
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


@dataclass(frozen=True, slots=True)
class NextjsApp:
    """The app in ``folder``; ``packages`` are the ones whose installed versions are worth reporting."""

    folder: Path
    packages: tuple[str, ...]

    def prepare(self, log_dir: Path, build_environment: Mapping[str, str] | None = None) -> Prepared:
        """Install and build the app if its stamps say so; raise ``NextjsUnavailable`` with the reason.

        ``build_environment`` is added to ``next build``'s environment; another one builds again.
        """
        built_with = dict(build_environment or {})
        node, npm = _executable("node"), _executable("npm")
        version = _node_version(node)
        install_digest = _digest(self.folder, (self.folder / name for name in _INSTALL_INPUTS))
        install_seconds, install_cached = self._once(
            _INSTALL_STAMP,
            install_digest,
            [npm, "ci", "--no-audit", "--no-fund"],
            log_dir / f"{self.folder.name}-npm-ci.log",
            what="npm ci",
            timeout=_INSTALL_TIMEOUT,
        )
        extra = f"{install_digest}\0{version}"
        if built_with:
            extra += "\0" + json.dumps(built_with, sort_keys=True)
        build_digest = _digest(self.folder, sorted(self._sources()), extra=extra)
        build_seconds, build_cached = self._once(
            _BUILD_STAMP,
            build_digest,
            [node, str(self._next_cli()), "build", str(self.folder)],
            log_dir / f"{self.folder.name}-next-build.log",
            what="next build",
            timeout=_BUILD_TIMEOUT,
            environment=built_with,
        )
        if not build_cached:
            (self.folder / _BUILD_ENVIRONMENT).write_text(json.dumps(built_with, sort_keys=True))
        return Prepared(
            node=version,
            versions=self.installed_versions(),
            install_seconds=install_seconds,
            install_cached=install_cached,
            build_seconds=build_seconds,
            build_cached=build_cached,
        )

    def built_with(self) -> dict[str, str] | None:
        """The build environment of the current build, or ``None`` when there is none."""
        try:
            built_with: dict[str, str] = json.loads((self.folder / _BUILD_ENVIRONMENT).read_text())
        except (OSError, ValueError):
            return None
        return built_with

    def start_command(self, host: str, port: int) -> list[str]:
        """``next start`` of the built app on ``host:port`` (the port the last argument)."""
        return [
            _executable("node"),
            str(self._next_cli()),
            "start",
            str(self.folder),
            "-H",
            host,
            "-p",
            str(port),
        ]

    def installed_versions(self) -> dict[str, str | None]:
        """Versions of the app's main packages as installed in ``node_modules``."""
        versions: dict[str, str | None] = {}
        for name in self.packages:
            manifest = self.folder / "node_modules" / name / "package.json"
            try:
                versions[name] = json.loads(manifest.read_text())["version"]
            except (OSError, ValueError, KeyError):
                versions[name] = None
        return versions

    def _once(
        self,
        stamp: Path,
        digest: str,
        command: list[str],
        log: Path,
        *,
        what: str,
        timeout: int,
        environment: Mapping[str, str] | None = None,
    ) -> tuple[float, bool]:
        """Run ``command`` in the app folder unless ``stamp`` holds ``digest``; (seconds, whether cached)."""
        stamp = self.folder / stamp
        if stamp.is_file() and stamp.read_text() == digest:
            return 0.0, True
        where = self.folder.parent.name + "/" + self.folder.name
        print(f"nextjs: {what} in {where}/ (again only when its inputs change)", flush=True)
        env = without_app_configuration(os.environ) | dict(environment or {})
        env["NEXT_TELEMETRY_DISABLED"] = "1"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            with log.open("w") as sink:
                completed = subprocess.run(
                    command,
                    cwd=self.folder,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
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

    def _sources(self) -> list[Path]:
        """The app's own files (what ``next build`` compiles), without installed or built folders."""
        found = []
        for folder, subfolders, files in os.walk(self.folder):
            subfolders[:] = [name for name in subfolders if name not in _NOT_SOURCES]
            found += [Path(folder, name) for name in files if not name.endswith((".py", ".pyc"))]
        return found

    def _next_cli(self) -> Path:
        return self.folder / "node_modules" / "next" / "dist" / "bin" / "next"


def without_app_configuration(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without what could change an app: Inngest's, NextAuth's, Next.js's variables, NODE_ENV."""
    return {
        name: value
        for name, value in environ.items()
        if "INNGEST" not in name and not name.startswith(("NEXTAUTH", "AUTH_", "NEXT_", "NODE_ENV"))
    }


def _digest(root: Path, paths: Iterable[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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
        raise NextjsUnavailable(f"`{name}` is not on PATH: Next.js apps need Node.js 20 and npm")
    return path
