"""The owners' lock files: a live owner is never found dead, a dead one always is, whatever the interleaving."""

import fcntl
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.sqlite_outbox.owners import OwnerLocks, lock_file_name, owners_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return owners_folder(tmp_path / "outbox.sqlite3")


def dead_names(locks: OwnerLocks) -> list[str]:
    """The dead owners a scan finds, each forgotten at once (as after releasing its leases)."""
    found = locks.dead_owners()
    for dead in found:
        locks.forget(dead)
    return sorted(dead.name for dead in found)


def interleave_before_first_lock(monkeypatch: pytest.MonkeyPatch, step: Callable[[], None]) -> None:
    """Run ``step`` just before the next ``flock`` call, as another process would in that instant."""
    real_flock = fcntl.flock
    pending = [step]

    def flock(descriptor: int, operation: int) -> None:
        if pending:
            pending.pop()()
        real_flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", flock)


def test_the_owners_folder_sits_beside_the_outbox(tmp_path: Path) -> None:
    assert owners_folder(tmp_path / "outbox.sqlite3") == tmp_path / "outbox.sqlite3.owners"


def test_an_owner_held_elsewhere_in_this_process_is_alive(folder: Path) -> None:
    holder, scanner = OwnerLocks(folder), OwnerLocks(folder)
    holder.hold("relay-a")

    assert dead_names(scanner) == []
    assert (folder / lock_file_name("relay-a")).exists()
    holder.release_all()


def test_an_owner_let_go_is_found_dead_once_and_its_lock_file_removed(folder: Path) -> None:
    holder, scanner = OwnerLocks(folder), OwnerLocks(folder)
    holder.hold("relay-a")
    holder.hold("relay-b")
    holder.release_all()

    assert dead_names(scanner) == ["relay-a", "relay-b"]
    assert dead_names(scanner) == []
    assert os.listdir(folder) == []


def test_a_scan_does_not_count_the_owners_it_holds_itself(folder: Path) -> None:
    locks = OwnerLocks(folder)
    locks.hold("relay-a")
    locks.hold("relay-a")

    assert dead_names(locks) == []
    locks.release_all()


def test_a_dead_owner_let_go_is_found_dead_again_by_the_next_scan(folder: Path) -> None:
    holder, scanner = OwnerLocks(folder), OwnerLocks(folder)
    holder.hold("relay-a")
    holder.release_all()

    [dead] = scanner.dead_owners()
    scanner.let_go(dead)

    assert dead_names(scanner) == ["relay-a"]


def test_an_owner_whose_name_is_no_file_name_keeps_it_whole(folder: Path) -> None:
    holder, scanner = OwnerLocks(folder), OwnerLocks(folder)
    name = ".creating-../host:1234/ä.lock"
    holder.hold(name)
    holder.release_all()

    assert [path.parent for path in folder.iterdir()] == [folder]
    assert dead_names(scanner) == [name]


def test_the_folder_and_the_lock_files_are_their_owners_alone(folder: Path) -> None:
    previous = os.umask(0)
    try:
        OwnerLocks(folder).hold("relay-a")
    finally:
        os.umask(previous)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / lock_file_name("relay-a")).stat().st_mode) == 0o600


def test_an_owner_held_by_another_process_is_alive_until_it_is_killed(folder: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from adapters.sqlite_outbox.owners import OwnerLocks;"
            f" OwnerLocks(Path({str(folder)!r})).hold('relay-a'); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        alive = dead_names(OwnerLocks(folder))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()

    assert alive == []
    assert dead_names(OwnerLocks(folder)) == ["relay-a"]


def test_a_lock_file_replaced_between_its_opening_and_its_locking_is_not_taken_for_dead(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flock-unlink race: the scan opened a dead owner's file, another scan removed it, and an
    owner of that name holds a new file there; the lock the first scan then takes is of a file gone."""
    old, scanner, other_scanner, new = (
        OwnerLocks(folder),
        OwnerLocks(folder),
        OwnerLocks(folder),
        OwnerLocks(folder),
    )
    old.hold("relay-a")
    old.release_all()

    def meanwhile() -> None:
        assert dead_names(other_scanner) == ["relay-a"]
        new.hold("relay-a")

    interleave_before_first_lock(monkeypatch, meanwhile)

    assert dead_names(scanner) == []
    assert dead_names(OwnerLocks(folder)) == []
    new.release_all()


def test_an_owner_whose_lock_file_a_scan_removed_while_it_was_being_created_creates_another(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file being created is not locked yet: a scan may take it for a dead process's leftover and
    remove it; the owner then holds a file of its own all the same."""
    owner, scanner = OwnerLocks(folder), OwnerLocks(folder)
    folder.mkdir()

    def meanwhile() -> None:
        assert dead_names(scanner) == []
        assert os.listdir(folder) == []

    interleave_before_first_lock(monkeypatch, meanwhile)
    owner.hold("relay-a")

    assert os.listdir(folder) == [lock_file_name("relay-a")]
    assert dead_names(OwnerLocks(folder)) == []
    owner.release_all()
    assert dead_names(OwnerLocks(folder)) == ["relay-a"]


def test_a_scan_of_an_outbox_no_owner_ever_held_finds_nobody(folder: Path) -> None:
    assert dead_names(OwnerLocks(folder)) == []
