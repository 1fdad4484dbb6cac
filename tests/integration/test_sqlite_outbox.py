"""The SQLite outbox on a real file, beyond the contract every store passes (tests/contract/): its files and
their modes, its write-ahead log, and a kill -9."""

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.sqlite_outbox.schema import JOURNAL_SIZE_LIMIT
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent
from tests.fakes import ManualMillisecondClock

pytestmark = pytest.mark.anyio


def event(n: int, payload: str = "") -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": payload}, id=f"event-{n}", ts=n)


@pytest.fixture
def clock() -> ManualMillisecondClock:
    return ManualMillisecondClock()


@pytest.fixture
def open_outbox(tmp_path: Path, clock: ManualMillisecondClock) -> Callable[..., SqliteOutboxStore]:
    def make(max_events: int = 1_000_000, max_bytes: int = 1 << 30) -> SqliteOutboxStore:
        return SqliteOutboxStore(
            tmp_path / "var" / "outbox.sqlite3", clock_ms=clock, max_events=max_events, max_bytes=max_bytes
        )

    return make


@pytest.fixture
async def outbox(open_outbox: Callable[..., SqliteOutboxStore]) -> AsyncIterator[SqliteOutboxStore]:
    box = open_outbox()
    await box.open()
    yield box
    await box.close()


async def test_creates_its_folder_and_file_on_open(tmp_path: Path, outbox: SqliteOutboxStore) -> None:
    assert (tmp_path / "var" / "outbox.sqlite3").is_file()


async def test_the_outbox_files_are_its_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "outbox.sqlite3"
    previous = os.umask(0o000)
    try:
        outbox = SqliteOutboxStore(path)
        await outbox.open()
        await outbox.append([event(1)])
        modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in path.parent.iterdir()}
        await outbox.close()
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert modes == dict.fromkeys(("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"), 0o600)


async def test_an_outbox_file_left_readable_by_others_is_closed_to_them_at_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)

    outbox = SqliteOutboxStore(path)
    await outbox.open()
    await outbox.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_write_ahead_log_shrinks_back_to_its_limit_once_a_checkpoint_can_catch_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    wal = tmp_path / "outbox.sqlite3-wal"
    outbox = SqliteOutboxStore(path)
    await outbox.open()
    try:
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        # A read that holds its snapshot: no checkpoint gets past it, and the log grows.
        reader.execute("SELECT count(*) FROM outbox").fetchone()
        for n in range(600):
            await outbox.append([event(n * 10 + k, payload="x" * 4000) for k in range(10)])
        grown = wal.stat().st_size
        reader.close()
        for n in range(6000, 6400):
            await outbox.append([event(n)])
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        await outbox.append([event(7000)])
        shrunk = wal.stat().st_size
    finally:
        await outbox.close()

    assert grown > 2 * JOURNAL_SIZE_LIMIT
    assert shrunk <= JOURNAL_SIZE_LIMIT


HOLDER = """
import asyncio, sys
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.event import UserEvent

async def main() -> None:
    store = SqliteOutboxStore(sys.argv[1])
    await store.open()
    print("open", flush=True)
    sys.stdin.readline()
    await store.append([UserEvent(name="app/test", data={}, id="accepted-after-the-other-process", ts=1)])
    print("appended", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_an_event_accepted_after_another_process_used_the_outbox_survives_a_kill_9(tmp_path: Path) -> None:
    """Another process (``eventgate outbox status``) opening and closing the outbox must find it in use."""
    path = tmp_path / "outbox.sqlite3"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline() == "open\n"
            other = sqlite3.connect(path)
            other.execute("SELECT count(*) FROM outbox").fetchone()
            other.close()
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "appended\n"
        finally:
            holder.kill()

    survivors = sqlite3.connect(path).execute("SELECT id FROM outbox").fetchall()
    assert survivors == [("accepted-after-the-other-process",)]
