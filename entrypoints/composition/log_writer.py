"""Whole log lines to a file descriptor, from a thread of their own, so that no request waits on a write.

A line is queued in memory and written by the writer thread, whole lines to a ``write()``, in order.
Lines that may wait (``write_soon``: the access log, info and debug records) are gathered for a
moment so that one ``write()`` carries many; a line that must not wait (``write_now``: warnings and
errors) wakes the writer at once, after everything queued before it.

Several processes (``eventgate serve --workers 2``) share one standard error, so no line may be cut
by another process's write. A ``write()`` of at most ``PIPE_BUF`` bytes to a pipe is atomic, so to a
pipe, a socket or a terminal every write carries whole lines and at most ``PIPE_BUF`` bytes (a
single longer line goes alone). A regular file's writes are never interleaved with each other by the
kernel (nor do they overwrite each other, through one shared file description or with ``O_APPEND``),
so there writes carry up to ``FILE_CHUNK_BYTES``.

When the reader does not keep up (a pipe nobody reads), the queue holds at most ``max_backlog_bytes``;
a line that may wait and does not fit is dropped and counted: ``on_drop`` is called, and once the
writer can write again it first writes a warning saying how many lines are missing (at most one per
``drop_warning_interval``). A line that must not wait is never dropped, and its caller waits at most
``urgent_wait`` for it to be written.
"""

import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterator

FILE_CHUNK_BYTES = 64 * 1024
PIPE_CHUNK_BYTES = select.PIPE_BUF
"""At most this many bytes per write to a pipe: what POSIX guarantees to write without interleaving."""


def chunk_bytes_for(fd: int) -> int:
    """How many bytes one write to ``fd`` may carry without risking another process's write in the middle."""
    return FILE_CHUNK_BYTES if stat.S_ISREG(os.fstat(fd).st_mode) else PIPE_CHUNK_BYTES


def whole_line_chunks(lines: list[bytes], limit: int) -> Iterator[tuple[bytes, int]]:
    """``lines``, each ended by a newline, in chunks of at most ``limit`` bytes (a longer line makes
    a chunk of its own), in order; each with the number of lines it holds."""
    group: list[bytes] = []
    size = 0
    for line in lines:
        length = len(line) + 1
        if group and size + length > limit:
            yield b"\n".join(group) + b"\n", len(group)
            group, size = [], 0
        group.append(line)
        size += length
    if group:
        yield b"\n".join(group) + b"\n", len(group)


class LineWriter:
    """Writes lines to ``fd`` from its own thread; ``close()`` writes what is queued and stops it."""

    def __init__(
        self,
        fd: int,
        *,
        max_backlog_bytes: int,
        gather_seconds: float,
        urgent_wait: float,
        drop_warning: Callable[[int], bytes],
        drop_warning_interval: float,
        on_drop: Callable[[int], None] = lambda count: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fd = fd
        self._chunk_bytes = chunk_bytes_for(fd)
        self._max_backlog = max_backlog_bytes
        self._gather_seconds = gather_seconds
        self._urgent_wait = urgent_wait
        self._drop_warning = drop_warning
        self._drop_warning_interval = drop_warning_interval
        self._on_drop = on_drop
        self._clock = clock
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._written = threading.Condition(self._lock)
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._urgent = False
        self._closing = False
        self._lines_queued = 0
        self._lines_done = 0
        self._unreported_drops = 0
        self._last_drop_warning = -float("inf")
        self.dropped = 0
        """Lines dropped since the start: lines that may wait and found the queue full, and lines the
        descriptor refused (its reader gone)."""
        self.bytes_written = 0
        """Bytes written since the start: how ``close`` sees that the reader still reads."""
        self._thread = threading.Thread(target=self._run, name="eventgate-log-writer", daemon=True)
        self._thread.start()

    def count_drops_with(self, on_drop: Callable[[int], None]) -> None:
        """From now on, call ``on_drop(count)`` for dropped lines; at once for those dropped already."""
        with self._lock:
            self._on_drop = on_drop
            dropped = self.dropped
        if dropped:
            on_drop(dropped)

    def write_soon(self, line: bytes) -> None:
        """Queue ``line`` (no newline) to be written within a moment; drop and count it if the queue is full."""
        with self._lock:
            closed = self._closing
            fits = self._queued_bytes + len(line) < self._max_backlog
            if closed or not fits:
                on_drop = self._on_drop
            else:
                if not self._queued:
                    self._work.notify()
                self._queued.append(line)
                self._queued_bytes += len(line) + 1
                self._lines_queued += 1
                return
            if not closed:
                self.dropped += 1
                self._unreported_drops += 1
        if closed:
            self._write_after_close(line)
        else:
            on_drop(1)

    def write_now(self, line: bytes) -> None:
        """Write ``line`` (no newline) after everything queued; wait at most ``urgent_wait`` for it."""
        with self._lock:
            closed = self._closing
            if not closed:
                self._queued.append(line)
                self._queued_bytes += len(line) + 1
                self._lines_queued += 1
                self._wait_until_written(self._lines_queued, self._urgent_wait)
        if closed:
            self._write_after_close(line)

    def flush(self, timeout: float) -> bool:
        """Write everything queued now; whether it was written within ``timeout`` seconds."""
        with self._lock:
            return self._wait_until_written(self._lines_queued, timeout)

    def close(self, timeout: float) -> None:
        """Write everything queued and stop the thread; lines written afterwards are written by their
        caller at once.

        It waits as long as the descriptor takes bytes (a slow reader gets every line), and gives up
        after ``timeout`` seconds without progress (a reader that is stuck): the lines still queued
        then, and any written afterwards, are dropped and counted.
        """
        with self._lock:
            self._closing = True
            self._work.notify()
        progress = -1
        while self._thread.is_alive() and self.bytes_written != progress:
            progress = self.bytes_written
            self._thread.join(timeout)
        if self._thread.is_alive():
            with self._lock:
                unwritten = self._lines_queued - self._lines_done
            self._count_refused(unwritten)

    def _write_after_close(self, line: bytes) -> None:
        if self._thread.is_alive():
            self._count_refused(1)
        else:
            self._count_refused(self._write_lines([line]))

    def _wait_until_written(self, line_number: int, timeout: float) -> bool:
        """With the lock held: wake the writer and wait until the line numbered ``line_number`` is written."""
        if self._lines_done >= line_number:
            return True
        self._urgent = True
        self._work.notify()
        return self._written.wait_for(lambda: self._lines_done >= line_number, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._wait_for_work()
                lines, self._queued, self._queued_bytes = self._queued, [], 0
                self._urgent = False
                closing = self._closing
                warning = self._take_drop_warning() if self._drop_warning_due() or closing else None
            if warning is not None:
                self._write_lines([warning])  # refused, it is not itself reported: it would be refused too
            self._count_refused(self._write_lines(lines))
            with self._lock:
                self._lines_done += len(lines)
                self._written.notify_all()
                if closing and not self._queued:
                    return

    def _wait_for_work(self) -> None:
        """With the lock held: wait for lines (then gather more for a moment, unless one is urgent),
        for a drop warning to fall due, or for ``close``."""
        while not self._queued and not self._closing and not self._drop_warning_due():
            self._work.wait(self._drop_warning_interval if self._unreported_drops else None)
        if self._queued and not self._urgent and not self._closing:
            self._work.wait(self._gather_seconds)

    def _drop_warning_due(self) -> bool:
        return bool(self._unreported_drops) and (
            self._clock() - self._last_drop_warning >= self._drop_warning_interval
        )

    def _take_drop_warning(self) -> bytes | None:
        """With the lock held: the warning about the lines dropped since the last one, if any were."""
        if not self._unreported_drops:
            return None
        count, self._unreported_drops = self._unreported_drops, 0
        self._last_drop_warning = self._clock()
        return self._drop_warning(count)

    def _write_lines(self, lines: list[bytes]) -> int:
        """Write ``lines``; the number of them the descriptor refused (its reader gone, a full disk)."""
        written = 0
        for chunk, count in whole_line_chunks(lines, self._chunk_bytes):
            try:
                self._write_all(chunk)
            except OSError:
                return len(lines) - written
            written += count
        return 0

    def _write_all(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                select.select([], [self._fd], [])
                continue
            self.bytes_written += written
            view = view[written:]

    def _count_refused(self, count: int) -> None:
        """``count`` lines the descriptor refused are dropped: counted, and reported when it writes again."""
        if not count:
            return
        with self._lock:
            self.dropped += count
            self._unreported_drops += count
            on_drop = self._on_drop
        on_drop(count)
