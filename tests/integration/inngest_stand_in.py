"""A stand-in for Inngest's event API on a loopback port: it records requests and answers as scripted.

It runs the standard library's threading HTTP server, which lets a script do what a real server or
network can: answer any status and body, close the connection without answering, or not answer.
Unscripted requests are acknowledged the way the real event API does, one id per event.
"""

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer with ``status``; a ``body`` of ``None`` acknowledges every event of the request."""

    status: int = 200
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Answer nothing for ``seconds`` (or until the stand-in stops), then close the connection."""

    seconds: float


Step = Reply | Drop | Hang


class EventApiStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._steps: deque[Step] = deque()
        self._requests: list[RecordedRequest] = []
        self._ids_given = 0
        self._stopping = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="event-api-stand-in"
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def script(self, *steps: Step) -> None:
        """Answer the next requests with ``steps``, in order; later requests are acknowledged."""
        with self._lock:
            self._steps.extend(steps)

    def __enter__(self) -> "EventApiStandIn":
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, request: RecordedRequest) -> Step:
        """Record the request and take the step that answers it."""
        with self._lock:
            self._requests.append(request)
            self._arrived.notify_all()
            return self._steps.popleft() if self._steps else Reply()

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests have arrived; ``False`` when ``timeout`` seconds pass first."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._requests) >= count, timeout)

    def acknowledge(self, request: RecordedRequest) -> bytes:
        """The event API's success body for a request: one id per event, unique across requests."""
        with self._lock:
            first, self._ids_given = self._ids_given, self._ids_given + len(request.json())
        ids = [f"01STANDIN{serial:017d}" for serial in range(first, self._ids_given)]
        return json.dumps({"ids": ids, "status": 200}).encode()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the stand-in stops meanwhile."""
        self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stand_in: EventApiStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stand_in = stand_in


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 10
    server_version = "event-api-stand-in"

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        stand_in = self.server.stand_in
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
        )
        step = stand_in.answer(request)
        if isinstance(step, Hang):
            stand_in.pause(step.seconds)
        if isinstance(step, Drop | Hang):
            self.close_connection = True
            return
        content = stand_in.acknowledge(request) if step.body is None else step.body
        self.send_response(step.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the tests assert on recorded requests, not on the server's log."""
