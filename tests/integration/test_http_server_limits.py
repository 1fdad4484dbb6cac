"""The server's limits, from raw sockets against a real uvicorn on loopback: what a stranger can make
it read, hold open and spend, before any request reaches the app."""

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.cli.server_limits import uvicorn_options
from entrypoints.composition.settings import HttpServerSettings
from tests.integration.bounded_server import RunningServer, bounded_server

SETTINGS = HttpServerSettings(
    max_header_bytes=32 * 1024,
    max_headers=100,
    header_timeout=0.5,
    body_timeout=0.5,
    max_connections=20,
    keepalive_timeout=0.3,
)
# How late a deadline may be kept on a busy machine, and how early (libuv's clock counts milliseconds).
SLACK = 0.5
EARLY = 0.01
GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with bounded_server(SETTINGS) as running:
        yield running


def answer(connection: socket.socket, timeout: float = 2.0) -> bytes:
    """Everything the server writes until it closes the connection or ``timeout`` passes."""
    connection.settimeout(timeout)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    except ConnectionResetError:
        # The server closed with the rest of our request unread; what it wrote first is kept above.
        pass
    return received


def test_a_normal_request_with_three_session_cookie_chunks_is_served(server: RunningServer) -> None:
    chunks = "; ".join(f"__Secure-next-auth.session-token.{i}={'x' * 3933}" for i in range(3))
    cookie = f"{chunks}; next-auth.csrf-token={'c' * 140}; _ga=GA1.2.3; theme=dark"
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Cookie: " + cookie.encode() + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )

    with server.connect() as connection:
        connection.sendall(request)
        assert answer(connection).startswith(b"HTTP/1.1 200 ")


def test_a_head_request_is_answered_though_its_answer_has_no_body(server: RunningServer) -> None:
    with server.connect() as connection:
        connection.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        connection.settimeout(2.0)
        head = connection.recv(65536)

    assert head.startswith(b"HTTP/1.1 200 ")
    assert head.endswith(b"\r\n\r\n")


def test_a_huge_header_is_answered_431_and_closed_long_before_it_is_all_sent(server: RunningServer) -> None:
    chunk, most = b"a" * 65536, 4 * 1024 * 1024
    cpu_before = server.cpu_seconds()
    sent = 0
    with server.connect() as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        try:
            while sent < most and not select.select([connection], [], [], 0.01)[0]:
                connection.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = answer(connection)

    assert response.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close\r\n" in response
    assert sent <= 512 * 1024
    assert server.cpu_seconds() - cpu_before < 0.2


def test_five_thousand_headers_are_answered_431(server: RunningServer) -> None:
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(5000))

    with server.connect() as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        response = answer(connection)

    assert response.startswith(b"HTTP/1.1 431 ")


def test_more_header_lines_than_allowed_are_answered_431_however_short(server: RunningServer) -> None:
    headers = b"".join(b"x%d:\r\n" % i for i in range(SETTINGS.max_headers + 1))

    with server.connect() as connection:
        connection.sendall(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
        response = answer(connection)

    assert len(headers) < SETTINGS.max_header_bytes // 4
    assert response.startswith(b"HTTP/1.1 431 ")


def test_as_many_header_lines_as_allowed_are_served(server: RunningServer) -> None:
    headers = b"".join(b"x%d:\r\n" % i for i in range(SETTINGS.max_headers))

    with server.connect() as connection:
        connection.sendall(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
        connection.settimeout(1.0)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_a_head_trickled_a_byte_at_a_time_is_closed_at_its_deadline(server: RunningServer) -> None:
    started = time.monotonic()
    with server.connect() as connection:
        for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 0123456789\r\n\r\n":
            if select.select([connection], [], [], 0.1)[0]:
                break
            connection.sendall(bytes([byte]))
        response = answer(connection)
    elapsed = time.monotonic() - started

    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert SETTINGS.header_timeout - EARLY <= elapsed < SETTINGS.header_timeout + SLACK


def test_a_connection_that_sends_nothing_is_closed_at_the_head_deadline(server: RunningServer) -> None:
    started = time.monotonic()
    with server.connect() as connection:
        response = answer(connection)
    elapsed = time.monotonic() - started

    assert response == b""
    assert SETTINGS.header_timeout - EARLY <= elapsed < SETTINGS.header_timeout + SLACK


def test_a_body_that_never_finishes_is_closed_at_its_deadline_and_the_app_sees_a_disconnect(
    server: RunningServer,
) -> None:
    server.app.seen_disconnect.clear()
    started = time.monotonic()
    with server.connect() as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789")
        response = answer(connection)
    elapsed = time.monotonic() - started

    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert SETTINGS.body_timeout - EARLY <= elapsed < SETTINGS.body_timeout + SLACK
    assert server.app.seen_disconnect.wait(1.0)


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(server: RunningServer) -> None:
    with server.connect() as connection:
        connection.sendall(GET)
        connection.settimeout(1.0)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert answer(connection) == b""
    assert time.monotonic() - started < SETTINGS.keepalive_timeout + SLACK


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connections_past_the_cap_get_503_and_hold_no_descriptor_and_service_resumes_once_they_go(
    server: RunningServer,
) -> None:
    before = open_descriptors()
    idle = [server.connect() for _ in range(SETTINGS.max_connections)]
    time.sleep(0.05)
    past_the_cap = [server.connect() for _ in range(200)]
    try:
        for connection in past_the_cap[:5]:
            connection.sendall(GET)
        assert all(
            answer(connection, 1.0).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            for connection in past_the_cap
        )
        # The test's own sockets count once each; the server holds a descriptor only for those it serves.
        assert open_descriptors() - before <= len(idle) + len(past_the_cap) + SETTINGS.max_connections + 5
    finally:
        for connection in [*idle, *past_the_cap]:
            connection.close()
    time.sleep(0.1)
    with server.connect() as connection:
        connection.sendall(GET)
        connection.settimeout(1.0)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_every_worker_holds_the_limits_when_uvicorn_runs_several(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = f"""
import uvicorn
from entrypoints.cli.server_limits import uvicorn_options
from entrypoints.composition.settings import HttpServerSettings
uvicorn.run("tests.integration.bounded_server:app", host="127.0.0.1", port={port}, workers=2,
            lifespan="off", log_level="warning", **uvicorn_options(HttpServerSettings()))
"""
    log = tmp_path / "workers.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=output, stderr=output)
    try:
        responses = [huge_header_response(port) for _ in range(4)]
    finally:
        process.terminate()
        process.wait(10)
    assert all(response.startswith(b"HTTP/1.1 431 ") for response in responses), log.read_text()


def huge_header_response(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=2.0)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the workers did not start within 10 s"
            time.sleep(0.05)
    with connection:
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: " + b"a" * 100_000 + b"\r\n\r\n"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        return answer(connection)


def test_uvicorn_gets_the_keep_alive_timeout_and_a_request_cap_from_the_settings() -> None:
    options = uvicorn_options(SETTINGS)

    assert options["timeout_keep_alive"] == SETTINGS.keepalive_timeout
    assert options["limit_concurrency"] == SETTINGS.max_connections + 1
