"""The ``eventgate`` command as a user runs it: a real server process on a loopback port."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"eventgate serve exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"eventgate serve did not listen on port {port} within {timeout} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [EVENTGATE, "serve", "--port", str(port)],
        env=os.environ
        | {
            "EVENTGATE_SESSION": "memory",
            "EVENTGATE_EVENT_BUS": "memory",
            "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) in {0, -signal.SIGTERM}, (
            "uvicorn re-raises SIGTERM after a clean shutdown"
        )


def test_serve_answers_the_readme_curl_example(server: str) -> None:
    response = httpx.post(
        f"{server}/api",
        content=b'{"data": "data"}',
        headers={"Content-Type": "application/json", "Cookie": "eventgate.dev-session=dev"},
    )

    assert response.status_code == 200
    assert response.json()["success"] == "true"
    assert len(response.json()["ids"]) == 1


def test_serve_refuses_a_wrong_configuration_with_one_line_and_exit_code_2() -> None:
    result = subprocess.run(
        [EVENTGATE, "serve"],
        env=os.environ | {"EVENTGATE_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == "eventgate: EVENTGATE_PORT='eighty' is not valid: must be a whole number\n"
