"""Processes starting together on an outbox file that does not exist yet: each one opens it.

Several ``eventgate serve`` (or a ``serve`` and an ``eventgate relay``) started at once by a
supervisor all create the same file: none of them may give up with "database is locked".
"""

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.sqlite_outbox.schema import connect

PROCESSES = 8
ROUNDS = 40

STARTING = """
import asyncio, os, sqlite3, sys
from adapters.sqlite_outbox.store import SqliteOutboxStore

async def start(path: str) -> None:
    store = SqliteOutboxStore(path)
    await store.open()
    try:
        await store.hold_owner(f"relay-{os.getpid()}")
        await store.release_dead_owners()
        reason = await store.probe()
        if reason is not None:
            raise OSError(reason)
    finally:
        await store.close()

for path in sys.argv[1:]:
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        asyncio.run(start(path))
    except (OSError, sqlite3.Error) as error:
        print(f"failed: {error}", flush=True)
    else:
        print("opened", flush=True)
"""


def test_processes_starting_together_on_a_new_outbox_file_all_open_it(tmp_path: Path) -> None:
    """Each round, every process is released at once on a fresh path, in a folder not made yet either,
    and starts as ``serve`` does: opens the store, marks its relay alive in the owners' folder (made
    by whichever comes first), looks for dead relays there, and writes a heartbeat."""
    paths = [str(tmp_path / f"round-{n}" / "outbox.sqlite3") for n in range(ROUNDS)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", STARTING, *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(PROCESSES)
    ]
    outcomes: list[str] = []
    try:
        for _ in paths:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline() == "ready\n"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            for process in processes:
                assert process.stdout is not None
                outcomes.append(process.stdout.readline().rstrip("\n"))
    finally:
        for process in processes:
            process.kill()
            process.wait()
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.close()
            process.stdout.close()

    failures = [outcome for outcome in outcomes if outcome != "opened"]
    assert failures == [], f"{len(failures)} of {len(outcomes)} starts failed: {sorted(set(failures))}"


@contextmanager
def writing(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection in the middle of writing the new, empty file ``path``: it holds the write lock."""
    path.touch()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
    finally:
        other.close()


def test_a_new_file_another_connection_is_writing_is_opened_once_its_write_lock_is_let_go(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL waits for the lock, as any other statement of the outbox does."""
    path = tmp_path / "outbox.sqlite3"
    with writing(path) as other:
        commit = threading.Timer(0.2, other.execute, ("COMMIT",))
        commit.start()
        try:
            connection = connect(str(path), "normal", busy_timeout=5.0)
        finally:
            commit.join()
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    finally:
        connection.close()


def test_a_new_file_still_locked_when_the_busy_timeout_runs_out_is_refused_only_then(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with writing(path):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            connect(str(path), "normal", busy_timeout=0.5)
        waited = time.monotonic() - started
    assert waited >= 0.4
