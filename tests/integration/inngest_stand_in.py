"""A stand-in for Inngest's event API on a loopback port: it records requests and answers as scripted.

It runs the standard library's threading HTTP server, which lets a script do what a real server or
network can: answer any status and body, close the connection without answering, not answer, or
answer bytes that are not HTTP.
Unscripted requests are acknowledged the way the real event API does, one id per event.
"""

import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True, slots=True)
class Raw:
    """Write ``data`` as it is, however malformed an HTTP answer it makes, then close the connection."""

    data: bytes


Step = Reply | Drop | Hang | Raw


class EventApiStandIn:
    """``port`` 0 picks a free port; ``policy`` answers the requests no script step is left for."""

    def __init__(self, port: int = 0, policy: Callable[[RecordedRequest], Step] | None = None) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._steps: deque[Step] = deque()
        self._policy = policy
        self._requests: list[RecordedRequest] = []
        self._accepted: list[str] = []
        self._ids_given = 0
        self._stopping = threading.Event()
        self._server = _Server(self, port)
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

    @property
    def accepted_event_ids(self) -> list[str]:
        """The ``id`` of every event acknowledged, once per acknowledgement, in order."""
        with self._lock:
            return list(self._accepted)

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
            if self._steps:
                return self._steps.popleft()
        return Reply() if self._policy is None else self._policy(request)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests have arrived; ``False`` when ``timeout`` seconds pass first."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._requests) >= count, timeout)

    def acknowledge(self, request: RecordedRequest) -> bytes:
        """The event API's success body for a request: one id per event, unique across requests."""
        events = request.json()
        with self._lock:
            first, self._ids_given = self._ids_given, self._ids_given + len(events)
            self._accepted.extend(event["id"] for event in events)
        ids = [f"01STANDIN{serial:017d}" for serial in range(first, self._ids_given)]
        return json.dumps({"ids": ids, "status": 200}).encode()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the stand-in stops meanwhile."""
        self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    allow_reuse_address = True

    def __init__(self, stand_in: EventApiStandIn, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.stand_in = stand_in

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request (a killed service) is expected here, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
        if isinstance(step, Raw):
            self.wfile.write(step.data)
        if isinstance(step, Drop | Hang | Raw):
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
