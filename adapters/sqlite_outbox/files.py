"""The outbox's files hold users' names and emails: readable and writable by their owner only."""

import contextlib
import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside the database file; it creates them with the database file's mode."""


def make_private(path: Path) -> None:
    """Create the folder (``0700``) and the file (``0600``) if missing, whatever the umask; and take
    group and other access away from the file and its side files if an older start left them open.

    A folder that already exists is left as it is: it may be shared (``/var/lib``), and the files'
    own modes keep other users out.
    """
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, mode=0o700)
        except FileExistsError:  # another process sharing the outbox made it meanwhile
            pass
        else:
            os.chmod(path.parent, 0o700)
    if not path.exists():
        # Only a file not yet there is opened here: closing any descriptor of a file drops every
        # POSIX lock this process holds on it, SQLite's included.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(file, 0o600)
            logger.warning("%s was readable by other users (mode %o); it is now 0600", file, mode)
