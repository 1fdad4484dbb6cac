"""``eventgate outbox ...`` on a real outbox file, run as a user runs it."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))


def eventgate(outbox: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVENTGATE, *arguments],
        env=os.environ | {"EVENTGATE_OUTBOX_PATH": str(outbox)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def outbox_file(tmp_path: Path) -> Path:
    """An outbox holding two pending events and one the bus refused as invalid."""
    path = tmp_path / "outbox.sqlite3"

    async def fill() -> None:
        outbox = SqliteOutboxStore(path)
        await outbox.open()
        await outbox.append(
            [UserEvent(name="app/e", data={"user": {"id": "u"}}, id=f"event-{n}", ts=n) for n in range(3)]
        )
        await outbox.claim("relay", 1, 30)
        await outbox.dead_letter("relay", ["event-0"], "invalid event: data too deep")
        await outbox.close()

    asyncio.run(fill())
    return path


def test_status_reports_pending_and_dead_events_as_json(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "status", "--json")

    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert (status["pending"], status["dead"]) == (2, 1)
    assert status["last_error"] == "invalid event: data too deep"


def test_status_reads_as_text_for_people(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "status")

    assert result.returncode == 0
    assert "pending:              2" in result.stdout
    assert "dead:                 1" in result.stdout


def test_dead_lists_each_dead_event_with_its_reason(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "dead")

    [line] = result.stdout.splitlines()
    assert line.split("\t")[0:2] == ["event-0", "app/e"]
    assert line.endswith("invalid event: data too deep")


def test_retry_makes_a_dead_event_pending_again(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "retry", "event-0")

    assert result.returncode == 0
    assert json.loads(eventgate(outbox_file, "outbox", "status", "--json").stdout)["pending"] == 3


def test_retry_of_an_unknown_id_fails_saying_so(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "retry", "no-such-event")

    assert result.returncode == 1
    assert result.stderr == "eventgate: 1 of the ids name no dead event\n"


def test_purge_needs_to_be_told_what_to_purge(outbox_file: Path) -> None:
    result = eventgate(outbox_file, "outbox", "purge")

    assert result.returncode == 2
    assert "--delivered" in result.stderr


def test_an_unusable_outbox_path_is_one_line_naming_the_variable_and_exit_status_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    result = eventgate(blocker / "outbox.sqlite3", "outbox", "status")

    assert result.returncode == 2
    assert result.stderr.startswith("eventgate: EVENTGATE_OUTBOX_PATH=")
    assert "the outbox cannot be opened:" in result.stderr
    assert result.stderr.count("\n") == 1
