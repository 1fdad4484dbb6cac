"""The outbox's files on disk during a load run: issue 16's "does the file stop growing?".

A thread samples the sizes of the SQLite file, its write-ahead log and its shared-memory index
(``outbox.sqlite3``, ``-wal``, ``-shm``) every few seconds, with the events the bus had received by
then, so that the growth can be divided by the events delivered meanwhile.
"""

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class DiskSampler:
    """Samples the outbox's files every ``interval`` seconds while the ``with`` block runs."""

    def __init__(self, outbox: Path, delivered: Callable[[], int], interval: float) -> None:
        self._outbox = outbox
        self._delivered = delivered
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="bench-disk", daemon=True)
        self._began = 0.0
        self.samples: list[dict[str, Any]] = []

    def sample(self) -> None:
        self.samples.append(
            {
                "seconds": round(time.monotonic() - self._began, 1),
                "db": file_size(self._outbox),
                "wal": file_size(self._outbox.with_name(self._outbox.name + "-wal")),
                "shm": file_size(self._outbox.with_name(self._outbox.name + "-shm")),
                "delivered": self._delivered(),
            }
        )

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> "DiskSampler":
        self._began = time.monotonic()
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
