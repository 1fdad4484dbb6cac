"""Processes the benchmark starts, and what ``/proc`` says about them (CPU time, resident memory).

Every process is started on loopback only, with its output in a log file, and is stopped by its
own pid (SIGTERM, then SIGKILL after a grace period) when the ``with`` block that started it ends.
"""

import contextlib
import http.client
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_GRACE_SECONDS = 15.0


class BenchError(RuntimeError):
    """The benchmark cannot go on: a process did not start, or answered what it should not."""


@dataclass(frozen=True, slots=True)
class Started:
    """A process the benchmark runs, and the file its output goes to."""

    process: "subprocess.Popen[bytes]"
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, characters: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except OSError:
            return ""


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: ``fields[0]`` is proc(5)'s field 3 (the state)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far, from ``/proc/<pid>/stat``."""
    fields = _stat_fields(pid)
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5); 3 is fields[0]
    return (utime + stime) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live process descending from it (a server's workers, a Node.js server's helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, ()))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of ``pid`` and its descendants, all threads, and of the children they reaped.

    Per live process: user + system time (proc(5) fields 14, 15) plus that of its waited-for
    children (fields 16, 17), so a worker that ended and was reaped still counts, once.
    """
    total = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            if member == pid:
                raise
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def tree_memory_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MiB (pages they share count in each of them)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += memory_mib(member)
        except (OSError, BenchError):
            if member == pid:
                raise
    return total


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of ``/proc/<pid>/status`` (``VmRSS``: resident now; ``VmHWM``: its peak), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"/proc/{pid}/status has no {field}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def started(
    command: Sequence[str], env: Mapping[str, str], log: Path, *, stdout_pipe: bool = False
) -> Iterator[Started]:
    """Run ``command`` for the duration of the block; its stderr (and stdout unless piped) go to ``log``."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else sink,
            stderr=sink,
        )
        try:
            yield Started(process, log)
        finally:
            stop(process)


def stop(process: "subprocess.Popen[bytes]", grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_ready_line(running: Started, prefix: str, timeout: float) -> str:
    """The first stdout line of a process started with ``stdout_pipe``, which must start with ``prefix``."""
    stdout = running.process.stdout
    if stdout is None:
        raise BenchError("the process's stdout is not piped")
    ready, _, _ = select.select([stdout], [], [], timeout)
    line = stdout.readline().decode().strip() if ready else ""
    if not line.startswith(prefix):
        raise BenchError(f"expected {prefix!r} within {timeout} s, got {line!r}:\n{running.log_tail()}")
    return line


def wait_until(
    running: Started, ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``ready`` until it is true; raise if the process exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise BenchError(f"{what} exited with {running.process.returncode}:\n{running.log_tail()}")
        if ready():
            return
        time.sleep(interval)
    raise BenchError(f"{what} was not ready within {timeout} s:\n{running.log_tail()}")


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes


def http_request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> HttpAnswer:
    """One request to a loopback port; raises ``OSError`` when nothing answers."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        answer = connection.getresponse()
        return HttpAnswer(answer.status, answer.read())
    finally:
        connection.close()
