"""The real NextAuth libraries, run by Node: each from its own npm prefix, installed on first use.

``npm ci`` runs only when ``node_modules`` is missing or was installed from other package files, so
a second test run starts at once. Node and npm are required: without them the tests fail.
"""

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_INSTALL_INPUTS = ("package.json", "package-lock.json", ".npmrc")
_STAMP = Path("node_modules", ".eventgate-installed-from")


@dataclass(frozen=True, slots=True)
class NodeLibrary:
    """An npm prefix and its script, which runs the library's JWT code on a batch of requests."""

    folder: Path
    script: str

    def run(self, requests: Sequence[Mapping[str, object]]) -> list[dict[str, Any]]:
        """One result per request, in order; Node starts once per batch, as it is slow to start."""
        completed = _run([_executable("node"), self.script], self.folder, 120, stdin=json.dumps(requests))
        if completed.returncode != 0:
            pytest.fail(f"node {self.script} failed:\n{completed.stderr}", pytrace=False)
        results: list[dict[str, Any]] = json.loads(completed.stdout)
        assert len(results) == len(requests)
        return results


def installed(folder: Path, script: str) -> NodeLibrary:
    """The library in ``folder``, after ``npm ci`` there unless its ``node_modules`` is current."""
    digest = hashlib.sha256()
    for name in _INSTALL_INPUTS:
        if (folder / name).is_file():
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    stamp = folder / _STAMP
    if not stamp.is_file() or stamp.read_text() != digest.hexdigest():
        completed = _run([_executable("npm"), "ci", "--no-audit", "--no-fund"], folder, 600)
        if completed.returncode != 0:
            pytest.fail(f"npm ci in {folder} failed:\n{completed.stdout}\n{completed.stderr}", pytrace=False)
        stamp.write_text(digest.hexdigest())
    return NodeLibrary(folder, script)


def _run(
    command: list[str], folder: Path, timeout: int, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``command`` run in ``folder``, fed ``stdin``, its output captured as text; the caller checks how it
    ended."""
    return subprocess.run(
        command, cwd=folder, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. The interop tests run next-auth and @auth/core themselves "
            "and need Node 20 and npm installed.",
            pytrace=False,
        )
    return path
