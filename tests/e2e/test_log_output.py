"""What a real ``eventgate serve`` writes to standard error: whole JSON lines from every worker, a
bounded wait when nobody reads them (the lines it had to drop counted and reported), and every line
written at shutdown."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import free_port, wait_until_listening

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
POST = {"Content-Type": "application/json", "Cookie": "eventgate.dev-session=dev"}
ANSWER_BOUND_SECONDS = 5.0
"""No request may take longer than this while the log is not read (generous: the machine is shared)."""


def environment(tmp_path: Path) -> dict[str, str]:
    env = os.environ | {
        "EVENTGATE_SESSION": "memory",
        "EVENTGATE_EVENT_BUS": "memory",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        "EVENTGATE_RATE_LIMIT": "off",
        "EVENTGATE_RATE_LIMIT_ANONYMOUS": "off",
        "EVENTGATE_LOG_LEVEL": "info",
        "EVENTGATE_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def serve(tmp_path: Path, stderr: int | IO[bytes], *arguments: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [EVENTGATE, "serve", "--port", str(port), *arguments],
        env=environment(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in {0, -signal.SIGTERM}


class PipeReader:
    """Reads a pipe in a thread, in small bites with pauses, so that its writers often find it full."""

    def __init__(self, read_end: int, *, pause: float) -> None:
        self.data = bytearray()
        self._read_end = read_end
        self._pause = pause
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._read_end, 16384):
            self.data += chunk
            time.sleep(self._pause)

    def finish(self) -> bytes:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()
        return bytes(self.data)


async def load(url: str, requests: int, *, path_length: int, concurrency: int = 32) -> list[float]:
    """``requests`` requests from ``concurrency`` clients: every other one a ``POST /api`` that records
    an event, the others a 404 for a path of ``path_length`` characters; the time each took."""
    queue = list(range(requests))
    took: list[float] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while queue:
                number = queue.pop()
                started = time.monotonic()
                headers = POST | {"X-Request-ID": f"load-{number}"}
                if number % 2:
                    answer = await http.post("/api", content=b'{"data":1}', headers=headers)
                    assert answer.status_code == 200
                else:
                    answer = await http.get("/" + "p" * path_length, headers=headers)
                    assert answer.status_code == 404
                took.append(time.monotonic() - started)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return took


def json_lines(output: bytes) -> list[dict[str, Any]]:
    """Every line of ``output``, each of which must be a whole JSON object."""
    assert output.endswith(b"\n")
    return [json.loads(line) for line in output.decode().splitlines()]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for end in (read_end, write_end):
        with contextlib.suppress(OSError):  # the test closed it already
            os.close(end)


def test_two_workers_under_load_write_whole_lines_every_request_s_one(
    tmp_path: Path, pipe: tuple[int, int]
) -> None:
    read_end, write_end = pipe
    process, url = serve(tmp_path, write_end, "--workers", "2")
    os.close(write_end)
    reader = PipeReader(read_end, pause=0.05)
    try:
        wait_until_listening(int(url.rsplit(":", 1)[1]), process, timeout=60)
        asyncio.run(load(url, 3000, path_length=1500))
    finally:
        stop(process)
    lines = json_lines(reader.finish())

    access = [line for line in lines if line["logger"] == "eventgate.access"]
    assert sorted(line["request_id"] for line in access) == sorted(f"load-{number}" for number in range(3000))
    assert {line["status"] for line in access} == {200, 404}
    assert [line for line in lines if line["logger"] == "eventgate.log"] == [], "nothing was dropped"
    started = [line for line in lines if line["message"].startswith("Started server process")]
    assert len(started) == 2


def dropped_total(url: str) -> float:
    exposition = httpx.get(f"{url}/metrics", timeout=30).text
    [family] = [
        family
        for family in text_string_to_metric_families(exposition)
        if family.name == "eventgate_log_lines_dropped"
    ]
    return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))


def test_with_nobody_reading_the_log_requests_are_answered_and_the_dropped_lines_counted_and_reported(
    tmp_path: Path, pipe: tuple[int, int]
) -> None:
    read_end, write_end = pipe
    process, url = serve(tmp_path, write_end)
    try:
        wait_until_listening(int(url.rsplit(":", 1)[1]), process, timeout=60)
        # 1,000 lines of about 12 kB: more than the pipe and the writer's 8 MiB backlog hold.
        took = asyncio.run(load(url, 2000, path_length=6000, concurrency=8))
        assert max(took) < ANSWER_BOUND_SECONDS
        counted = dropped_total(url)
        assert counted > 0
        reader = PipeReader(read_end, pause=0)
    finally:
        stop(process)
        os.close(write_end)
    lines = json_lines(reader.finish())

    reported = [line for line in lines if line["logger"] == "eventgate.log"]
    assert reported
    assert all(line["level"] == "warning" for line in reported)
    assert sum(line["dropped_lines"] for line in reported) >= counted
    loaded = [line for line in lines if line["logger"] == "eventgate.access" and line["path"] != "/metrics"]
    assert len(loaded) + sum(line["dropped_lines"] for line in reported) >= 2000
    assert len(loaded) < 2000


def test_every_line_is_written_before_a_server_stopped_by_sigterm_ends(tmp_path: Path) -> None:
    output = tmp_path / "stderr.log"
    with output.open("wb") as file:
        process, url = serve(tmp_path, file)
    try:
        wait_until_listening(int(url.rsplit(":", 1)[1]), process, timeout=60)
        for number in range(20):
            answer = httpx.post(
                f"{url}/api", content=b'{"data":1}', headers=POST | {"X-Request-ID": f"last-{number}"}
            )
            assert answer.status_code == 200
    finally:
        stop(process)

    lines = json_lines(output.read_bytes())
    access_ids = [line["request_id"] for line in lines if line["logger"] == "eventgate.access"]
    assert access_ids == [f"last-{number}" for number in range(20)]
    assert lines[-1]["message"] == f"Finished server process [{process.pid}]"
