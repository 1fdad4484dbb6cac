"""The log writer thread: whole lines, in order, warnings at once, a bounded backlog whose drops are counted."""

import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.composition.log_writer import (
    FILE_CHUNK_BYTES,
    PIPE_CHUNK_BYTES,
    LineWriter,
    chunk_bytes_for,
    whole_line_chunks,
)

PATIENCE = 10.0
"""Seconds a test waits for the writer thread at most: a loaded machine may be slow, never this slow."""


class Pipe:
    """A real pipe: the writer writes to ``write_end``; the test reads ``read_end`` when it chooses to."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.received = b""

    def read_available(self, wait: float = 0.0) -> bytes:
        """Everything in the pipe now, after waiting at most ``wait`` seconds for something to arrive."""
        chunks = []
        timeout = wait
        while select.select([self.read_end], [], [], timeout)[0]:
            chunk = os.read(self.read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            timeout = 0.0
        self.received += b"".join(chunks)
        return b"".join(chunks)

    def read_until(self, predicate: Callable[[bytes], bool], timeout: float = PATIENCE) -> bytes:
        """Everything received, once it satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_available(0.05)
            if predicate(self.received):
                return self.received
        pytest.fail(f"the pipe did not get what was expected within {timeout} s: {self.received[-300:]!r}")


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    opened = Pipe()
    yield opened
    os.close(opened.read_end)
    os.close(opened.write_end)


def a_writer(fd: int, **options: object) -> LineWriter:
    settings: dict[str, object] = {
        "max_backlog_bytes": 1 << 20,
        "gather_seconds": 0.01,
        "urgent_wait": PATIENCE,
        "drop_warning": lambda count: f"WARNING {count} lines dropped".encode(),
        "drop_warning_interval": 0.0,
    }
    settings.update(options)
    return LineWriter(fd, **settings)  # type: ignore[arg-type]


@given(st.lists(st.binary(min_size=0, max_size=300).map(lambda line: line.replace(b"\n", b" ")), max_size=60))
def test_chunks_hold_whole_lines_in_order_and_stay_under_the_limit_unless_one_line_is_longer(
    lines: list[bytes],
) -> None:
    limit = 256
    chunks = list(whole_line_chunks(lines, limit))

    assert b"".join(chunk for chunk, _ in chunks) == b"".join(line + b"\n" for line in lines)
    assert sum(count for _, count in chunks) == len(lines)
    for chunk, count in chunks:
        assert chunk.endswith(b"\n")
        assert chunk.count(b"\n") == count
        assert len(chunk) <= limit or count == 1


def test_writes_to_a_pipe_carry_at_most_pipe_buf_bytes_and_to_a_file_more(pipe: Pipe, tmp_path: Path) -> None:
    with (tmp_path / "log").open("wb") as file:
        assert chunk_bytes_for(file.fileno()) == FILE_CHUNK_BYTES
    assert chunk_bytes_for(pipe.write_end) == PIPE_CHUNK_BYTES == select.PIPE_BUF


def test_lines_arrive_whole_and_in_order(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end)
    lines = [f"line {number} ".encode() + b"x" * (number * 37 % 3000) for number in range(500)]
    reader = threading.Thread(target=pipe.read_until, args=(lambda data: data.count(b"\n") == len(lines),))
    reader.start()

    for line in lines:
        writer.write_soon(line)
    writer.close(PATIENCE)
    reader.join()

    assert pipe.received.split(b"\n") == [*lines, b""]


def test_a_warning_is_written_at_once_after_the_lines_queued_before_it(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, gather_seconds=60.0)
    writer.write_soon(b"access 1")
    writer.write_soon(b"access 2")

    writer.write_now(b"warning")

    assert pipe.read_available() == b"access 1\naccess 2\nwarning\n"
    writer.close(PATIENCE)


def test_lines_that_may_wait_are_gathered_and_written_within_the_gathering_time(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, gather_seconds=2.0)
    writer.write_soon(b"access 1")

    assert pipe.read_available(wait=0.2) == b""
    assert pipe.read_available(wait=PATIENCE) == b"access 1\n"
    writer.close(PATIENCE)


def test_flush_writes_what_is_queued(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, gather_seconds=60.0)
    writer.write_soon(b"access 1")

    assert writer.flush(PATIENCE) is True
    assert pipe.read_available() == b"access 1\n"
    writer.close(PATIENCE)


def test_after_close_lines_are_written_at_once_by_their_caller(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, gather_seconds=60.0)
    writer.write_soon(b"before close")
    writer.close(PATIENCE)

    writer.write_soon(b"after close")
    writer.write_now(b"warning after close")

    assert pipe.read_available() == b"before close\nafter close\nwarning after close\n"


def test_with_nobody_reading_lines_are_dropped_and_counted_and_no_write_waits(pipe: Pipe) -> None:
    drops: list[int] = []
    writer = a_writer(pipe.write_end, max_backlog_bytes=64 * 1024, on_drop=drops.append)
    line = b"x" * 1000
    slowest = 0.0

    for _ in range(2000):  # 2 MB: the pipe's 64 KiB, the writer's chunk in hand, the backlog, and more
        started = time.perf_counter()
        writer.write_soon(line)
        slowest = max(slowest, time.perf_counter() - started)

    assert writer.dropped > 1000
    assert sum(drops) == writer.dropped
    assert slowest < 1.0, "write_soon only queues or drops: it never waits for the pipe"
    dropped = writer.dropped
    kept_and_warning = 2000 - dropped + 1
    reader = threading.Thread(
        target=pipe.read_until, args=(lambda data: data.count(b"\n") == kept_and_warning,)
    )
    reader.start()
    writer.close(PATIENCE)
    reader.join()

    lines = pipe.received.split(b"\n")[:-1]
    assert [line for line in lines if line.startswith(b"WARNING")] == [
        f"WARNING {dropped} lines dropped".encode()
    ]
    assert len(lines) == kept_and_warning


def test_drops_before_the_counter_is_connected_are_counted_when_it_is(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, max_backlog_bytes=10)
    writer.write_soon(b"too long for the backlog")
    drops: list[int] = []

    writer.count_drops_with(drops.append)
    writer.write_soon(b"too long again, too")

    assert drops == [1, 1]
    writer.close(PATIENCE)


def test_a_warning_waits_at_most_its_bound_when_nobody_reads_and_is_written_once_someone_does(
    pipe: Pipe,
) -> None:
    writer = a_writer(pipe.write_end, urgent_wait=0.2)
    os.set_blocking(pipe.write_end, False)
    try:
        while True:
            os.write(pipe.write_end, b"." * 4096)
    except BlockingIOError:
        os.set_blocking(pipe.write_end, True)

    started = time.monotonic()
    writer.write_now(b"warning")
    waited = time.monotonic() - started

    assert 0.15 < waited < PATIENCE
    received = pipe.read_until(lambda data: data.endswith(b"warning\n"))
    assert received.lstrip(b".") == b"warning\n"
    writer.close(PATIENCE)


def test_lines_the_descriptor_refuses_are_counted_as_dropped(pipe: Pipe) -> None:
    drops: list[int] = []
    os.close(pipe.read_end)
    pipe.read_end = os.open(os.devnull, os.O_RDONLY)  # for the fixture to close
    writer = a_writer(pipe.write_end, on_drop=drops.append)

    writer.write_soon(b"nobody will read this")
    writer.write_soon(b"nor this")
    writer.close(PATIENCE)

    assert writer.dropped == 2
    assert sum(drops) == 2


def test_threads_writing_at_once_each_get_every_line_out_whole(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end)
    reader = threading.Thread(target=pipe.read_until, args=(lambda data: data.count(b"\n") == 4 * 300,))
    reader.start()

    def write(name: str) -> None:
        for number in range(300):
            line = f"{name} {number} ".encode() + b"y" * 500
            if number % 50:
                writer.write_soon(line)
            else:
                writer.write_now(line)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close(PATIENCE)
    reader.join()

    lines = pipe.received.split(b"\n")[:-1]
    for name in ("t0", "t1", "t2", "t3"):
        mine = [line for line in lines if line.startswith(f"{name} ".encode())]
        assert mine == [f"{name} {number} ".encode() + b"y" * 500 for number in range(300)]


def test_closing_waits_for_a_slow_reader_as_long_as_it_reads(pipe: Pipe) -> None:
    writer = a_writer(pipe.write_end, max_backlog_bytes=4 << 20)
    lines = [f"{number} ".encode() + b"z" * 1000 for number in range(1000)]  # 1 MB, 16 times the pipe
    for line in lines:
        writer.write_soon(line)

    def read_slowly() -> None:
        while pipe.received.count(b"\n") < len(lines):
            time.sleep(0.05)
            pipe.read_available()

    reader = threading.Thread(target=read_slowly)
    reader.start()
    writer.close(timeout=0.5)  # far less than the reader takes, but it never stops taking lines
    reader.join(PATIENCE)

    assert pipe.received.split(b"\n")[:-1] == lines
    assert writer.dropped == 0


def test_closing_gives_up_on_a_stuck_reader_and_counts_what_it_could_not_write(pipe: Pipe) -> None:
    drops: list[int] = []
    writer = a_writer(pipe.write_end, on_drop=drops.append)
    for number in range(200):
        writer.write_soon(f"{number} ".encode() + b"z" * 1000)

    started = time.monotonic()
    writer.close(timeout=0.3)
    writer.write_now(b"after close")
    took = time.monotonic() - started

    assert took < PATIENCE
    pipe_holds = 64 * 1024 // 1000
    assert writer.dropped == sum(drops) >= 200 - pipe_holds
