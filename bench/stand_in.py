"""A fast stand-in for Inngest's HTTP event API, on a loopback port, for the benchmark.

``POST /e/{key}`` with a JSON array of events answers ``{"ids": [...], "status": 200}`` with one id per
event, at once, as the real event API does on success. ``GET /stats`` answers the counters
``{"requests": ..., "events": ..., "bytes": ..., "connections": ...}`` (connections opened, the
``/stats`` ones included) so the benchmark can tell how many events reached
the bus. Anything else gets a 404.

It is one asyncio protocol on uvloop with a minimal HTTP/1.1 parser (keep-alive, ``Content-Length``
bodies), so that it costs far less CPU per request than the service it measures. It prints
``READY <port>`` on standard output once it listens, and stops on SIGTERM or SIGINT.

Run: ``.venv/bin/python bench/stand_in.py [--port 0]``.
"""

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from typing import Any, cast

import msgspec

try:
    import uvloop
except ImportError:  # pragma: no cover - the service's venv has it; the stand-in works without it
    uvloop = None  # type: ignore[assignment]

LOOPBACK = "127.0.0.1"
MAX_HEAD_BYTES = 64 * 1024

_events_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Counters:
    """What reached the stand-in: bus requests, the events they carried, and their body bytes."""

    requests: int = 0
    events: int = 0
    connections: int = 0
    body_bytes: int = 0
    next_id: int = 0

    def acknowledge(self, body: bytes) -> tuple[int, bytes]:
        """Count the events of one request body; the status and JSON answer the event API gives."""
        try:
            count = len(_events_decoder.decode(body))
        except msgspec.DecodeError as error:
            return 400, _encoder.encode({"ids": [""], "status": 400, "error": f"bad body: {error}"})
        first = self.next_id
        self.next_id += count
        self.requests += 1
        self.events += count
        self.body_bytes += len(body)
        ids = [f"01BENCH{serial:019d}" for serial in range(first, first + count)]
        return 200, _encoder.encode({"ids": ids, "status": 200})

    def snapshot(self) -> bytes:
        return _encoder.encode(
            {
                "requests": self.requests,
                "events": self.events,
                "bytes": self.body_bytes,
                "connections": self.connections,
            }
        )


@dataclass(frozen=True, slots=True)
class Head:
    """The parts of a request head the stand-in needs."""

    method: bytes
    path: bytes
    content_length: int
    close: bool


class MalformedHead(ValueError):
    """The request head cannot be understood; the connection is answered 400 and closed."""


def parse_head(head: bytes) -> Head:
    """Request line and the two headers that matter: ``Content-Length`` and ``Connection``."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise MalformedHead("bad request line")
    content_length, close = 0, parts[2] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            content_length = int(value.strip())
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            raise MalformedHead("chunked bodies are not supported; send Content-Length")
    return Head(method=parts[0], path=parts[1], content_length=content_length, close=close)


def response(status: int, body: bytes, *, close: bool = False) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: %s\r\n\r\n"
        % (status, reason, len(body), connection)
    ) + body


class EventApiProtocol(asyncio.Protocol):
    """One client connection: parse pipelined requests out of the byte stream and answer each."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._counters.connections += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and self._answer_one(self._transport):
            pass

    def _answer_one(self, transport: asyncio.Transport) -> bool:
        """Answer the first complete request in the buffer; ``False`` when none is complete yet."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._fail(transport, "request head too large")
            return False
        try:
            head = parse_head(bytes(self._buffer[:end]))
        except (MalformedHead, ValueError) as error:
            self._fail(transport, str(error))
            return False
        start = end + 4
        if len(self._buffer) < start + head.content_length:
            return False
        body = bytes(self._buffer[start : start + head.content_length])
        del self._buffer[: start + head.content_length]
        status, answer = self._route(head, body)
        transport.write(response(status, answer, close=head.close))
        if head.close:
            transport.close()
            self._transport = None
        return True

    def _route(self, head: Head, body: bytes) -> tuple[int, bytes]:
        if head.method == b"POST" and head.path.startswith(b"/e/"):
            return self._counters.acknowledge(body)
        if head.method == b"GET" and head.path == b"/stats":
            return 200, self._counters.snapshot()
        return 404, b'{"error":"not found"}'

    def _fail(self, transport: asyncio.Transport, reason: str) -> None:
        transport.write(response(400, _encoder.encode({"error": reason}), close=True))
        transport.close()
        self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(port: int) -> None:
    """Listen on loopback until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    counters = Counters()
    server = await loop.create_server(lambda: EventApiProtocol(counters), LOOPBACK, port, backlog=1024)
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    bound: Any = server.sockets[0].getsockname()
    print(f"READY {bound[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    arguments = parser.parse_args(argv)
    loop_factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(arguments.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
