"""A loopback TCP proxy that a test puts between a client and a real server, and breaks on demand.

It runs its own event loop in a thread, so sync and async tests drive it alike; every control
method has taken effect when it returns:

- ``forward()``: connections go through (the start);
- ``refuse()``: the port stops listening, so connecting is refused, and open connections are reset;
- ``black_hole()``: connections are accepted and kept, but nothing passes either way, as when a
  network or a server stalls; leaving the black hole resets the connections, whose bytes were lost;
- ``lose_answers()``: what clients send reaches the server, what the server answers is dropped, as
  when a server did what it was asked and its answer never came; leaving it resets the connections;
- ``cut()``: every open connection is reset now, whatever the mode; new ones follow the mode.

``connections`` counts the connections accepted so far.
"""

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Literal

Mode = Literal["forward", "refuse", "black_hole", "lose_answers"]
CONTROL_TIMEOUT = 5.0
_CHUNK = 256 * 1024


class _Link:
    """One client connection and its connection upstream."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        """Close both sides with an RST, as a crashed peer or a broken network would."""
        for writer in (self.client, self.upstream):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class TcpFaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._port = port
        self._mode: Mode = "forward"
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-fault-proxy", daemon=True)
        self.connections = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def mode(self) -> Mode:
        return self._mode

    def __enter__(self) -> "TcpFaultProxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT)
        self._loop.close()

    def forward(self) -> None:
        self._call(self._set_mode("forward"))

    def refuse(self) -> None:
        self._call(self._set_mode("refuse"))

    def black_hole(self) -> None:
        self._call(self._set_mode("black_hole"))

    def lose_answers(self) -> None:
        self._call(self._set_mode("lose_answers"))

    def cut(self) -> None:
        self._call(self._cut())

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _set_mode(self, mode: Mode) -> None:
        previous, self._mode = self._mode, mode
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            await self._cut()
            return
        if previous in ("black_hole", "lose_answers"):
            await self._cut()
        if previous == "refuse":
            await self._listen()

    async def _cut(self) -> None:
        for link in list(self._links):
            link.reset()
        self._links.clear()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, upstream_writer)
        if self._mode == "refuse":  # refused while connecting upstream
            link.reset()
            return
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, upstream_writer, link, dropped_in=("black_hole",))),
            asyncio.create_task(
                self._pump(upstream_reader, writer, link, dropped_in=("black_hole", "lose_answers"))
            ),
        ]

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        dropped_in: tuple[Mode, ...],
    ) -> None:
        """Copy one direction; in the modes ``dropped_in``, read and drop. The end of either side ends
        both."""
        try:
            while data := await reader.read(_CHUNK):
                if self._mode in dropped_in:
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if link in self._links:
                self._links.discard(link)
                for other in (link.client, link.upstream):
                    other.close()
                for task in link.tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
