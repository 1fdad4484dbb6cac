"""The Makefile as a newcomer runs it: what each of the two commands would install."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def planned_commands(target: str, tmp_path: Path) -> str:
    """What ``make TARGET`` would run from nothing (a fresh virtualenv path), without running it."""
    return subprocess.run(
        ["make", "--dry-run", "--always-make", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def test_make_run_installs_the_service_without_the_development_tools(tmp_path: Path) -> None:
    plan = planned_commands("run", tmp_path)

    assert "-c constraints.txt -e ." in plan
    assert "[dev]" not in plan


def test_make_test_installs_the_development_tools(tmp_path: Path) -> None:
    assert "-e '.[dev]'" in planned_commands("test", tmp_path)
