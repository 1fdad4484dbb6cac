"""A stand-in for Inngest's event API that goes through phases, in a process of its own, on loopback.

Phases, each for a number of seconds (the last one lasts until SIGTERM):

- ``up``: ``POST /e/{key}`` acknowledges every event, one id each, as the event API does; a key
  other than ``--key`` is answered 401 "Event key not found";
- ``down``: nothing listens; open connections are cut;
- ``500``: ``POST`` answers 500, while ``GET`` still answers 200: an origin that answers, with its
  event pipeline failing (so a probe that only checks that it answers passes);
- ``hang``: a black hole: requests are read and never answered, until the phase ends and their
  connections are closed unanswered.

``GET`` answers 200 in every phase but ``down`` and ``hang``. On SIGTERM it writes to ``--out`` a JSON
object: ``arrivals`` (``[id, ts, wall-clock arrival in seconds]`` per acknowledged event, as often as
it was acknowledged), ``phases`` (``[name, wall-clock start]``), and the counts of ``posts`` and
``gets``. It prints ``READY`` once it listens first.

Run: ``python tests/reliability/flapping_bus.py --port P --schedule up:10,down:5,up:10 --out FILE``.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

import msgspec

LOOPBACK = "127.0.0.1"
PHASES = ("up", "down", "500", "hang")


class _Event(msgspec.Struct):
    id: str
    ts: int


_decode_events = msgspec.json.Decoder(list[_Event]).decode
_encode = msgspec.json.Encoder().encode


def parse_schedule(text: str) -> list[tuple[str, float]]:
    schedule = []
    for item in text.split(","):
        name, _, seconds = item.partition(":")
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; phases are {', '.join(PHASES)}")
        schedule.append((name, float(seconds or 0)))
    return schedule


class FlappingBus:
    def __init__(self, port: int, key: str) -> None:
        self._port = port
        self._key = key
        self.phase = "up"
        self._phase_changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.arrivals: list[tuple[str, int, float]] = []
        self.phases: list[tuple[str, float]] = []
        self.posts = 0
        self.gets = 0

    async def enter(self, phase: str) -> None:
        """Switch to ``phase``; held requests are let go, and a bus going down cuts every connection."""
        self.phase = phase
        self.phases.append((phase, time.time()))
        self._phase_changed.set()
        self._phase_changed = asyncio.Event()
        if phase == "down":
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._connections):
                writer.transport.abort()
        elif self._server is None:
            self._server = await asyncio.start_server(
                self._serve, LOOPBACK, self._port, reuse_address=True, backlog=1024
            )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while await self._answer_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        if self.phase == "hang":
            await self._phase_changed.wait()
            return False
        if self.phase == "down":
            return False
        if method == "GET":
            self.gets += 1
            status, answer = 200, b'{"status":"ok"}'
        else:
            self.posts += 1
            status, answer = self._post(path, body)
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, len(answer), answer)
        )
        await writer.drain()
        return True

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if path != f"/e/{self._key}":
            return 401, b'{"error":"Event key not found","status":401}'
        if self.phase == "500":
            return 500, b'{"error":"internal error","status":500}'
        events = _decode_events(body)
        now = time.time()
        self.arrivals.extend((event.id, event.ts, now) for event in events)
        ids = [f"01FLAP{len(self.arrivals) - len(events) + n:020d}" for n in range(len(events))]
        return 200, _encode({"ids": ids, "status": 200})


async def run(port: int, key: str, schedule: list[tuple[str, float]]) -> bytes:
    """Go through ``schedule`` until SIGTERM; the record, as JSON."""
    bus = FlappingBus(port, key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)

    async def go_through_phases() -> None:
        for position, (phase, seconds) in enumerate(schedule):
            await bus.enter(phase)
            if position == 0:
                print("READY", flush=True)
            await asyncio.sleep(seconds)

    phases = asyncio.create_task(go_through_phases())
    await stop.wait()
    phases.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await phases
    return _encode({"arrivals": bus.arrivals, "phases": bus.phases, "posts": bus.posts, "gets": bus.gets})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="reliability-test-key")
    parser.add_argument("--schedule", type=parse_schedule, default=[("up", 0.0)])
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    arguments.out.write_bytes(asyncio.run(run(arguments.port, arguments.key, arguments.schedule)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
