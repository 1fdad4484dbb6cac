"""What the browser test runs on loopback: the example Next.js app, eventgate, and Inngest's stand-in.

The example is installed and built only when its inputs change (``bench/nextjs/build.py``). Its
``rewrites()`` send ``/events/*`` to eventgate at a URL fixed when the app is built, so eventgate
takes the port the current build was made for when that port is free, and the app is built again
for another free port when it is not.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.nextjs.build import NextjsApp, without_app_configuration
from tests.integration.inngest_stand_in import EventApiStandIn

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = NextjsApp(ROOT / "examples" / "nextjs", ("next", "next-auth", "react", "react-dom"))
EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
LOOPBACK = "127.0.0.1"
SECRET = "the-session-secret-the-app-and-eventgate-share"
START_TIMEOUT = 60.0
STOP_GRACE = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def is_free(port: int) -> bool:
    """Whether a server can listen on ``port``: as uvicorn does, past the connections closing there."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def eventgate_port_for_the_build() -> int:
    """The port the current build sends its rewrites to, when free; else a fresh free port."""
    built_with = EXAMPLE.built_with() or {}
    port = urlsplit(built_with.get("EVENTGATE_URL", "")).port
    return port if port is not None and is_free(port) else free_port()


@dataclass(frozen=True, slots=True)
class Stack:
    """The running servers: the app's and eventgate's URLs, the stand-in behind eventgate, the logs."""

    app_url: str
    eventgate_url: str
    stand_in: EventApiStandIn
    logs: Path

    def delivered(self) -> list[dict[str, Any]]:
        """Every event the stand-in received from eventgate's relay, in order, once per delivery."""
        return [
            event
            for request in self.stand_in.requests
            if request.method == "POST"
            for event in request.json()
        ]

    def accepted_events(self) -> float:
        """eventgate's count of events it accepted (``eventgate_events_accepted_total``)."""
        text = httpx.get(f"{self.eventgate_url}/metrics", timeout=5).raise_for_status().text
        [value] = [
            line.split()[1]
            for line in text.splitlines()
            if line.startswith("eventgate_events_accepted_total ")
        ]
        return float(value)


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """Build the example if needed, then start the stand-in, eventgate and the app; stop them all after."""
    eventgate_port, app_port = eventgate_port_for_the_build(), free_port()
    eventgate_url, app_url = f"http://{LOOPBACK}:{eventgate_port}", f"http://{LOOPBACK}:{app_port}"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    EXAMPLE.prepare(logs, {"EVENTGATE_URL": eventgate_url})
    with EventApiStandIn() as stand_in:
        inherited = without_app_configuration(os.environ)
        eventgate_env = {
            name: value for name, value in inherited.items() if not name.startswith("EVENTGATE_")
        } | {
            "NEXTAUTH_SECRET": SECRET,
            "INNGEST_EVENT_API_BASE_URL": stand_in.url,
            "INNGEST_EVENT_KEY": "browser-test-key",
            "EVENTGATE_HOST": LOOPBACK,
            "EVENTGATE_PORT": str(eventgate_port),
            "EVENTGATE_OUTBOX_PATH": str(workdir / "outbox.sqlite3"),
            "EVENTGATE_RELAY_GATHER": "0",
            "EVENTGATE_ALLOWED_ORIGINS": app_url,
            "EVENTGATE_LOG_FORMAT": "json",
            "EVENTGATE_SHUTDOWN_GRACE": "2",
        }
        app_env = inherited | {
            "NODE_ENV": "production",
            "NEXT_TELEMETRY_DISABLED": "1",
            "NEXTAUTH_SECRET": SECRET,
            "NEXTAUTH_URL": app_url,
            "EVENTGATE_URL": eventgate_url,
        }
        with (
            started("eventgate", [EVENTGATE, "serve"], eventgate_env, logs, f"{eventgate_url}/readyz"),
            started(
                "nextjs", EXAMPLE.start_command(LOOPBACK, app_port), app_env, logs, f"{app_url}/api/auth/csrf"
            ),
        ):
            yield Stack(app_url, eventgate_url, stand_in, logs)


@contextmanager
def started(
    name: str, command: list[str], env: Mapping[str, str], logs: Path, ready_url: str
) -> Iterator[None]:
    """``command`` running in a session of its own until the block ends, once ``ready_url`` answers 200.

    It is stopped by its process group (``next start`` runs a child server): SIGTERM, then SIGKILL.
    """
    log = logs / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=dict(env), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_ready(name, process, ready_url, log)
        yield
    finally:
        stop(process)


def wait_until_ready(name: str, process: "subprocess.Popen[bytes]", url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"{name} did not answer {url} within {START_TIMEOUT:g} s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def stop(process: "subprocess.Popen[bytes]") -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE)


@contextmanager
def serving_page(html: str) -> Iterator[str]:
    """A site of its own on a free loopback port, answering every GET with ``html``; yields its URL."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test says what it needs."""

    server = ThreadingHTTPServer((LOOPBACK, 0), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_GRACE)
