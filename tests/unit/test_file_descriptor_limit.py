"""The process may open enough files for the connections it allows: the soft limit is raised when the
hard one permits, and a limit too low to raise is named at start. Each case runs in its own process, as
it changes the process's limits."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def with_file_limits(soft: int, hard: int, max_connections: int) -> subprocess.CompletedProcess[str]:
    script = f"""
import resource
from entrypoints.cli.server_limits import ServerLimitsError, ensure_file_descriptors
from entrypoints.composition.settings import HttpServerSettings
resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
try:
    print(ensure_file_descriptors(HttpServerSettings(max_connections={max_connections})))
except ServerLimitsError as error:
    print(error)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )


def test_raises_the_soft_limit_on_open_files_to_fit_the_connections() -> None:
    lines = with_file_limits(soft=512, hard=4096, max_connections=1000).stdout.split()

    assert lines == ["1256", "1256"]


def test_keeps_a_soft_limit_that_already_fits() -> None:
    lines = with_file_limits(soft=4096, hard=4096, max_connections=1000).stdout.split()

    assert lines == ["4096", "4096"]


def test_names_the_setting_to_lower_when_the_hard_limit_is_too_low() -> None:
    output = with_file_limits(soft=512, hard=1024, max_connections=1000).stdout

    assert "EVENTGATE_MAX_CONNECTIONS=1000 needs 1256 open files" in output
    assert "lower EVENTGATE_MAX_CONNECTIONS to at most 768" in output
    assert output.splitlines()[-1] == "512"
