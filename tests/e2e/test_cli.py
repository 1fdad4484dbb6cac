"""The ``eventgate`` command as a user runs it: a real server process on a loopback port."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.nextauth import claims_for_user, mint_session_cookie
from domain.user import User
from tests.brokers import NatsServer
from tests.e2e.conftest import SERVER_OUTPUT, watch_for
from tests.processes import free_port, wait_until_listening

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
CLI_SECRET = watch_for("the-secret-of-the-cli-tests")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], str]]:
    """Starts ``eventgate serve`` with extra environment on a free port; stops it after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(environment: dict[str, str]) -> str:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        SERVER_OUTPUT.append(log)
        with log.open("wb") as output:
            process = subprocess.Popen(
                [EVENTGATE, "serve", "--port", str(port)],
                env=os.environ
                | {"EVENTGATE_EVENT_BUS": "memory", "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3")}
                | environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        wait_until_listening(port, process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) in {0, -signal.SIGTERM}, (
            "uvicorn re-raises SIGTERM after a clean shutdown"
        )


@pytest.fixture
def server(start_server: Callable[[dict[str, str]], str]) -> str:
    return start_server({"EVENTGATE_SESSION": "memory"})


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


def test_serve_accepts_a_session_split_into_three_cookie_chunks(
    start_server: Callable[[dict[str, str]], str],
) -> None:
    server = start_server({"EVENTGATE_SESSION": "nextauth", "NEXTAUTH_SECRET": CLI_SECRET})
    big_user = User(id="user-1", name="N" * 4000, email="e" * 4000 + "@example.com")
    cookie = watch_for(mint_session_cookie(CLI_SECRET, 4, claims_for_user(big_user)))

    response = httpx.post(
        f"{server}/api", json={"data": 1}, headers={"Content-Type": "application/json", "Cookie": cookie}
    )

    assert cookie.count("next-auth.session-token.") == 3
    assert len(cookie) > 9000
    assert response.status_code == 200, response.text


def test_session_mint_makes_a_cookie_that_session_decode_reads_back() -> None:
    environment = os.environ | {"NEXTAUTH_SECRET": CLI_SECRET}
    minted = subprocess.run(
        [EVENTGATE, "session", "mint", "--sub", "u-7", "--name", "Ada", "--email", "ada@example.com"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()

    decoded = subprocess.run(
        [EVENTGATE, "session", "decode"],
        input=minted,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert json.loads(decoded.stdout)["user"] == {"id": "u-7", "name": "Ada", "email": "ada@example.com"}


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--now", "4102444800"], "expired"),
        (["--secret", "another"], "decrypt failed"),
    ],
)
def test_session_decode_names_why_a_cookie_is_refused(arguments: list[str], reason: str) -> None:
    environment = os.environ | {"NEXTAUTH_SECRET": CLI_SECRET}
    cookie = mint_session_cookie(CLI_SECRET, 4, claims_for_user(User(id="u")))

    result = subprocess.run(
        [EVENTGATE, "session", "decode", cookie, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert (result.returncode, result.stderr) == (1, f"{reason}\n")


def test_serve_refuses_to_start_without_a_session_secret_and_says_which_variable_to_set() -> None:
    environment = {
        name: value for name, value in os.environ.items() if name not in {"NEXTAUTH_SECRET", "AUTH_SECRET"}
    }
    result = subprocess.run(
        [EVENTGATE, "serve"],
        env=environment | {"EVENTGATE_SESSION": "nextauth", "INNGEST_DEV": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("eventgate: no session secret: set NEXTAUTH_SECRET ")


def run_eventgate(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVENTGATE, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_check_config_shows_every_variable_with_secrets_hidden_and_says_it_is_valid(tmp_path: Path) -> None:
    environment = os.environ | {
        "NEXTAUTH_SECRET": CLI_SECRET,
        "INNGEST_DEV": "1",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
    }

    result = run_eventgate("check-config", environment=environment)

    assert result.returncode == 0, result.stdout
    assert CLI_SECRET not in result.stdout
    assert re.search(r"^NEXTAUTH_SECRET +\(set, hidden\) +\(environment\)$", result.stdout, re.MULTILINE)
    assert re.search(r"^EVENTGATE_PORT +8000 +\(default\)$", result.stdout, re.MULTILINE)
    assert result.stdout.endswith("configuration is valid\n")


def test_check_config_names_what_is_wrong_and_exits_2() -> None:
    environment = os.environ | {"NEXTAUTH_SECRET": CLI_SECRET, "INNGEST_EVENT_KEY": ""}
    environment.pop("INNGEST_DEV", None)

    result = run_eventgate("check-config", "--json", environment=environment)

    report = json.loads(result.stdout)
    assert result.returncode == 2
    assert report["valid"] is False
    assert report["problem"].startswith("INNGEST_EVENT_KEY is not set")
    assert CLI_SECRET not in result.stdout


def test_check_config_opens_and_writes_the_outbox_as_serve_would(tmp_path: Path) -> None:
    """A folder and file no one may change (``chattr +i``: root ignores modes) stand for a read-only volume."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "outbox.sqlite3").touch()
    environment = os.environ | SERVABLE | {"EVENTGATE_OUTBOX_PATH": str(folder / "outbox.sqlite3")}
    subprocess.run(["chattr", "+i", str(folder / "outbox.sqlite3"), str(folder)], check=True, timeout=30)
    try:
        checked = run_eventgate("check-config", "--json", environment=environment)
        served = run_eventgate("serve", environment=environment)
    finally:
        subprocess.run(["chattr", "-i", str(folder), str(folder / "outbox.sqlite3")], check=True, timeout=30)

    assert checked.returncode == 2
    assert json.loads(checked.stdout)["problem"].startswith("EVENTGATE_OUTBOX_PATH=")
    assert served.returncode == 2
    assert served.stderr.startswith("eventgate: EVENTGATE_OUTBOX_PATH=")


def test_check_config_says_whether_the_bus_answers_without_refusing_for_it(tmp_path: Path) -> None:
    environment = os.environ | {
        "NEXTAUTH_SECRET": CLI_SECRET,
        "INNGEST_DEV": f"http://127.0.0.1:{free_port()}",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
    }

    report = json.loads(run_eventgate("check-config", "--json", environment=environment).stdout)

    assert report["valid"] is True
    assert report["event_bus"].startswith("the Inngest event API is unreachable")


@pytest.mark.parametrize("backend", ["nats", "rabbitmq"])
def test_check_config_says_the_broker_rejects_the_credentials_without_refusing_for_it(
    tmp_path: Path, backend: str
) -> None:
    """As a wrong Inngest key: no reason to refuse the configuration (events wait in the outbox), but
    the person checking it is told, in the bus's line, what to fix."""
    server = NatsServer(tmp_path, token="the-right-t0ken")
    server.start()
    environment = os.environ | {
        "NEXTAUTH_SECRET": CLI_SECRET,
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        "EVENTGATE_EVENT_BUS": backend,
        "EVENTGATE_NATS_URL": server.url,
        "EVENTGATE_NATS_TOKEN": "a-wr0ng-t0ken",
        "EVENTGATE_RABBITMQ_URL": "amqp://guest:a-wr0ng-one@127.0.0.1:5672/",
    }
    try:
        report = json.loads(run_eventgate("check-config", "--json", environment=environment).stdout)
    finally:
        server.stop()

    assert report["valid"] is True
    assert report["event_bus"].startswith("credentials rejected — check ")
    assert "wr0ng" not in json.dumps(report)


def test_serve_refuses_an_outbox_path_it_cannot_use_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    environment = os.environ | {
        "EVENTGATE_SESSION": "memory",
        "INNGEST_DEV": "1",
        "EVENTGATE_OUTBOX_PATH": str(blocker / "outbox.sqlite3"),
    }

    result = run_eventgate("serve", environment=environment)

    assert result.returncode == 2
    assert result.stderr.startswith("eventgate: EVENTGATE_OUTBOX_PATH=")
    assert "the outbox cannot be opened:" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_client_gone_mid_body_is_counted_as_499_not_as_a_server_error(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Cookie: eventgate.dev-session=dev\r\nContent-Length: 100\r\n\r\n"
            b'{"data": '
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{server}/metrics", timeout=5).text
        if 'status="499"' in metrics:
            break
        time.sleep(0.05)

    assert re.search(r'eventgate_http_requests_total\{[^}]*status="499"[^}]*\} 1\.0', metrics)
    assert 'status="500"' not in metrics


def answer_to_headers_alone(server: str, headers: bytes) -> bytes:
    """What the server answers to a request whose announced megabyte of body is never sent."""
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
        connection.sendall(
            b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + headers
            + b"Content-Length: 1048576\r\n\r\n"
            + b"[[],"
        )
        return connection.recv(65536)


def test_a_stranger_is_answered_from_the_headers_without_its_body_being_read(
    start_server: Callable[[dict[str, str]], str],
) -> None:
    server = start_server({"EVENTGATE_SESSION": "memory", "EVENTGATE_RATE_LIMIT_ANONYMOUS": "1/60"})

    first = answer_to_headers_alone(server, b"")
    second = answer_to_headers_alone(server, b"Cookie: eventgate.dev-session=nobody\r\n")

    assert first.startswith(b"HTTP/1.1 401 ")
    assert second.startswith(b"HTTP/1.1 429 ")


FORWARDING_HEADERS = [
    ("x-forwarded-for", "203.0.113.{n}"),
    ("forwarded", "for=203.0.113.{n}"),
    ("x-real-ip", "203.0.113.{n}"),
    ("true-client-ip", "203.0.113.{n}"),
    ("cf-connecting-ip", "203.0.113.{n}"),
    ("x-client-ip", "203.0.113.{n}"),
]


@pytest.mark.parametrize(("header", "value"), FORWARDING_HEADERS)
def test_no_forwarding_header_gives_a_caller_a_fresh_anonymous_limit(
    start_server: Callable[[dict[str, str]], str], header: str, value: str
) -> None:
    server = start_server({"EVENTGATE_SESSION": "memory", "EVENTGATE_RATE_LIMIT_ANONYMOUS": "1/60"})

    statuses = [
        httpx.post(f"{server}/api", json={}, headers={header: value.format(n=n)}, timeout=5).status_code
        for n in (1, 2)
    ]

    assert statuses == [401, 429]


BEHIND_A_TRUSTED_PROXY = {
    "EVENTGATE_SESSION": "memory",
    "EVENTGATE_RATE_LIMIT_ANONYMOUS": "1/60",
    "EVENTGATE_TRUSTED_PROXIES": "127.0.0.0/8",
}
"""One anonymous request a minute per client, behind a proxy on loopback."""


def anonymous_status(server: str, header: str, value: str) -> int:
    """The status of an anonymous ``POST /api`` carrying ``header``."""
    return httpx.post(f"{server}/api", json={}, headers={header: value}, timeout=5).status_code


def test_a_trusted_proxy_is_believed_about_the_client_it_forwards(
    start_server: Callable[[dict[str, str]], str],
) -> None:
    server = start_server(BEHIND_A_TRUSTED_PROXY)

    def status(forwarded_for: str) -> int:
        return anonymous_status(server, "x-forwarded-for", forwarded_for)

    assert [status("203.0.113.1"), status("203.0.113.2"), status("203.0.113.1")] == [401, 401, 429]


def test_a_trusted_proxy_is_believed_only_through_x_forwarded_for_and_its_rightmost_untrusted_address(
    start_server: Callable[[dict[str, str]], str],
) -> None:
    server = start_server(BEHIND_A_TRUSTED_PROXY)

    def status(header: str, value: str) -> int:
        return anonymous_status(server, header, value)

    others = [
        status(header, value.format(n=n))
        for n, (header, value) in enumerate(FORWARDING_HEADERS)
        if header != "x-forwarded-for"
    ]
    chain = [
        status("x-forwarded-for", "203.0.113.7, 127.0.0.9"),
        status("x-forwarded-for", "198.51.100.1, 203.0.113.7, 127.0.0.10"),
        status("x-forwarded-for", "203.0.113.8, 127.0.0.9"),
    ]

    assert others == [401] + [429] * (len(others) - 1), "the other headers name no client: one bucket"
    assert chain == [401, 429, 401], "the client is the rightmost address that is not a trusted proxy"


SERVABLE = {"EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}


def test_serve_on_a_taken_port_stops_at_once_with_one_line_naming_it(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        environment = os.environ | SERVABLE | {"EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3")}

        result = run_eventgate("serve", "--port", str(port), environment=environment)

    assert result.returncode == 2
    assert result.stderr.startswith(f"eventgate: EVENTGATE_HOST='127.0.0.1', EVENTGATE_PORT={port} cannot be")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_serve_refuses_a_worker_count_below_one(workers: str, tmp_path: Path) -> None:
    environment = os.environ | SERVABLE | {"EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3")}

    result = run_eventgate("serve", "--workers", workers, environment=environment)

    assert result.returncode == 2
    assert result.stderr == f"eventgate: --workers {workers} is not valid: must be a positive whole number\n"


def test_serve_with_workers_removes_the_metrics_folder_it_made_at_shutdown(tmp_path: Path) -> None:
    port = free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    environment = (
        os.environ
        | SERVABLE
        | {"EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"), "TMPDIR": str(scratch)}
    )
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [EVENTGATE, "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process)
        assert [folder.name.startswith("eventgate-metrics-") for folder in scratch.iterdir()] == [True]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)

    assert list(scratch.iterdir()) == []


def test_the_standalone_relay_logs_as_serve_does(tmp_path: Path) -> None:
    environment = os.environ | {
        "EVENTGATE_EVENT_BUS": "memory",
        "EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        "EVENTGATE_LOG_FORMAT": "json",
        "EVENTGATE_LOG_LEVEL": "debug",
    }
    process = subprocess.Popen(
        [EVENTGATE, "relay"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        first = json.loads(process.stderr.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=15)

    assert first["message"].startswith("eventgate relay: delivering")
    later = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert [line["level"] for line in later if line["level"] in {"error", "critical"}] == []
    assert later[-1]["message"].startswith("eventgate relay: stopping")


def test_session_decode_reads_a_whole_cookie_line_and_says_what_form_it_wants_otherwise() -> None:
    environment = os.environ | {"NEXTAUTH_SECRET": CLI_SECRET}
    cookie = mint_session_cookie(CLI_SECRET, 4, claims_for_user(User(id="u")))
    bare_token = cookie.partition("=")[2]

    def decode(header: str) -> subprocess.CompletedProcess[str]:
        return run_eventgate("session", "decode", header, environment=environment)

    assert json.loads(decode(f"Cookie: {cookie}").stdout)["user"] == {"id": "u"}
    refused = decode(bare_token)
    assert refused.returncode == 1
    assert refused.stderr.startswith("no session cookie: give the Cookie header's value, such as ")
