"""Which relays sharing an outbox file are alive: each holds an exclusive lock on a file of its own.

A relay's owner ``O`` holds ``flock(LOCK_EX)`` on ``<outbox>.owners/<O>.lock`` for as long as its
store is open; the kernel drops the lock when the process dies, however it dies. So a lock file
whose lock another process (or another store of the same process) can take belongs to a dead
owner, whose leases may be released at once instead of when they run out.

``flock``, not ``fcntl``/``lockf``: ``flock`` locks belong to an open file description, so two
owners of one process exclude each other, and closing a descriptor opened to test a lock does not
drop a lock held through another one (POSIX locks would do both, and make a live owner look dead).

Races, and why none makes a live owner look dead:

- a lock file appears only once locked: it is created under a temporary name, locked, and renamed
  into place, so no one can find an owner's file unlocked while the owner lives;
- a lock file is removed only by whoever holds its lock, so the file at an owner's name is the one
  its owner locked, for as long as it lives;
- whoever opens a file that is removed meanwhile may still lock it (the lock of a file no longer in
  the folder): so a lock taken counts only when the file at that name is still the one locked
  (same device and inode), and otherwise is let go.
"""

import contextlib
import fcntl
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

LOCK_SUFFIX = ".lock"
CREATING_PREFIX = ".creating-"


def owners_folder(outbox: Path) -> Path:
    """Where the owners of the relays sharing the outbox ``outbox`` keep their lock files."""
    return outbox.with_name(outbox.name + ".owners")


def lock_file_name(owner: str) -> str:
    """The owner's name, quoted so that any name is one safe file name (no ``/``, no leading dot)."""
    quoted = quote(owner, safe="")
    if quoted.startswith("."):
        quoted = "%2E" + quoted[1:]
    return quoted + LOCK_SUFFIX


@dataclass(frozen=True, slots=True)
class DeadOwner:
    """An owner whose lock file this process now holds locked: it is dead, and its file is ours to
    remove, once its leases are released."""

    name: str
    path: Path
    descriptor: int


class OwnerLocks:
    """The lock files of the owners in one folder: those this store holds, and the dead ones it finds."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._held: dict[str, int] = {}

    def hold(self, owner: str) -> None:
        """Mark ``owner`` alive until ``release_all`` (or the process's death); again is a no-op."""
        if owner in self._held:
            return
        self._make_folder()
        final = self._folder / lock_file_name(owner)
        while True:
            creating = self._folder / f"{CREATING_PREFIX}{uuid.uuid4().hex}"
            descriptor = os.open(creating, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(creating, final)
            except (BlockingIOError, FileNotFoundError):
                # A scan took it, before it was locked, for what a process that died creating its
                # lock file left behind, and removes it: create another.
                os.close(descriptor)
                continue
            except BaseException:
                os.close(descriptor)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(creating)
                raise
            self._held[owner] = descriptor
            return

    def release_all(self) -> None:
        """Let go of every owner held here; their files stay, for a scan to find them dead."""
        held, self._held = self._held, {}
        for descriptor in held.values():
            os.close(descriptor)

    def dead_owners(self) -> list[DeadOwner]:
        """Each owner whose lock file this process could lock, its lock held until ``forget`` or ``let_go``.

        Files left half-created by a process that died while creating them are removed on the way.
        """
        try:
            names = os.listdir(self._folder)
        except FileNotFoundError:
            return []
        dead: list[DeadOwner] = []
        for name in names:
            path = self._folder / name
            if name.startswith(CREATING_PREFIX):
                descriptor = self._lock_if_dead(path)
                if descriptor is not None:
                    _remove_locked(path, descriptor)
            elif name.endswith(LOCK_SUFFIX):
                owner = unquote(name.removesuffix(LOCK_SUFFIX))
                if owner in self._held:
                    continue
                descriptor = self._lock_if_dead(path)
                if descriptor is not None:
                    dead.append(DeadOwner(owner, path, descriptor))
        return dead

    def forget(self, dead: DeadOwner) -> None:
        """Remove a dead owner's lock file, its leases released: no scan needs to look at it again."""
        _remove_locked(dead.path, dead.descriptor)

    def let_go(self, dead: DeadOwner) -> None:
        """Keep a dead owner's lock file for a later scan (its leases could not be released now)."""
        os.close(dead.descriptor)

    def _lock_if_dead(self, path: Path) -> int | None:
        """A descriptor holding the lock of the file at ``path`` when nobody else holds it; else ``None``."""
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = os.fstat(descriptor)
            now = os.stat(path)
        except (BlockingIOError, FileNotFoundError):
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        if (locked.st_dev, locked.st_ino) != (now.st_dev, now.st_ino):
            os.close(descriptor)
            return None
        return descriptor

    def _make_folder(self) -> None:
        """The folder, ``0700`` like the outbox's own when created here."""
        if not self._folder.exists():
            with contextlib.suppress(FileExistsError):
                self._folder.mkdir(mode=0o700)
            os.chmod(self._folder, 0o700)


def _remove_locked(path: Path, descriptor: int) -> None:
    """Remove the file, then let go of its lock: whoever locks it next finds it gone (see the module)."""
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    finally:
        os.close(descriptor)
