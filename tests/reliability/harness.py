"""The real service as a subprocess on loopback, a bounded load of signed-in requests, and counts by id."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.nextauth import claims_for_user, mint_session_cookie
from domain.user import User

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
SECRET = "reliability-tests-session-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def session_cookie(user_id: str = "user-1") -> str:
    return mint_session_cookie(SECRET, 4, claims_for_user(User(id=user_id, name="Load Tester")))


@dataclass
class Service:
    """``eventgate serve`` in outbox mode, with its outbox in ``folder``, sending to ``inngest_port``
    unless ``environment`` sets another ``EVENTGATE_EVENT_BUS``."""

    folder: Path
    inngest_port: int = field(default_factory=free_port)
    environment: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox.sqlite3"

    @property
    def log(self) -> Path:
        """Everything the server printed, across restarts."""
        return self.folder.parent / f"{self.folder.name}-service.log"

    def env(self) -> dict[str, str]:
        return (
            dict(os.environ)
            | {
                "NEXTAUTH_SECRET": SECRET,
                "INNGEST_EVENT_API_BASE_URL": f"http://127.0.0.1:{self.inngest_port}",
                "INNGEST_EVENT_KEY": "reliability-test-key",
                "EVENTGATE_OUTBOX_PATH": str(self.outbox),
                "EVENTGATE_RELAY_RETRY_CAP": "1",
                "EVENTGATE_INNGEST_READ_TIMEOUT": "2",
                "EVENTGATE_INNGEST_PUBLISH_DEADLINE": "8",
                "EVENTGATE_RELAY_LEASE": "10",
                "EVENTGATE_SHUTDOWN_GRACE": "2",
                "EVENTGATE_LOG_LEVEL": "info",
                "EVENTGATE_LOG_FORMAT": "json",
                "EVENTGATE_RATE_LIMIT": "off",
            }
            | self.environment
        )

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [EVENTGATE, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"eventgate serve exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("eventgate serve did not start listening within 20 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, exactly as a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def outbox_command(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EVENTGATE, "outbox", *arguments],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@dataclass
class LoadResult:
    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after_missing: int = 0
    problem_types: Counter[str] = field(default_factory=Counter)
    """The problem ``type`` of each answer that is not a 200 (its content type if it is no problem)."""


async def drive_load(
    url: str,
    requests: int,
    *,
    concurrency: int = 16,
    name: str = "app/load",
    stop_after_acknowledged: int | None = None,
) -> LoadResult:
    """POST ``requests`` signed-in events; count statuses, and the ids of those that got a 200.

    Connection errors (the service being killed) are counted as status 0.
    """
    result = LoadResult()
    cookie = session_cookie()
    numbers = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=15, limits=limits) as client:

        async def worker() -> None:
            for number in numbers:
                if (
                    stop_after_acknowledged is not None
                    and len(result.acknowledged) >= stop_after_acknowledged
                ):
                    return
                try:
                    response = await client.post(
                        "/api",
                        json={"name": name, "data": {"n": number}},
                        headers={"Cookie": cookie},
                    )
                except httpx.TransportError:
                    result.statuses[0] += 1
                    continue
                result.statuses[response.status_code] += 1
                if response.status_code == 200:
                    result.acknowledged.extend(response.json()["ids"])
                else:
                    result.problem_types[problem_type(response)] += 1
                    if response.status_code == 503 and "retry-after" not in response.headers:
                        result.retry_after_missing += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


def problem_type(response: httpx.Response) -> str:
    content_type = response.headers.get("content-type", "")
    return str(response.json()["type"]) if content_type == "application/problem+json" else content_type


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.1)


def sample_value(exposition: str, name: str) -> float:
    """The value of the sample ``name`` (without labels) in a Prometheus exposition."""
    [value] = [float(line.split()[-1]) for line in exposition.splitlines() if line.startswith(name + " ")]
    return value


def report(scenario: str, **figures: object) -> None:
    """One line per scenario with its figures, shown with ``pytest -s`` (and in CI logs on failure)."""
    print(f"\n[reliability] {scenario}: " + ", ".join(f"{name}={value}" for name, value in figures.items()))
