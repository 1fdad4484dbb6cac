"""A real uvicorn on a loopback port, held to ``HttpServerSettings``, serving a tiny ASGI app.

The server runs in a thread of the test process, so a test can read the CPU time that thread used.
The app answers ``GET`` with ``ok``, and ``POST`` with the number of body bytes it read; it records
each request's ``http.disconnect``.
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from entrypoints.cli.server_limits import uvicorn_options
from entrypoints.composition.settings import HttpServerSettings

Message = dict[str, Any]


@dataclass
class TinyApp:
    """The ASGI app; ``disconnects`` counts the requests that saw ``http.disconnect``."""

    disconnects: int = 0
    seen_disconnect: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                self.seen_disconnect.set()
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"ok" if scope["method"] == "GET" else str(size).encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


app = TinyApp()


@dataclass(frozen=True)
class RunningServer:
    port: int
    app: TinyApp
    thread: threading.Thread

    def cpu_seconds(self) -> float:
        """CPU time the server's thread has used so far."""
        assert self.thread.ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(self.thread.ident))

    def connect(self, timeout: float = 2.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


@contextmanager
def bounded_server(settings: HttpServerSettings, *, stock: bool = False) -> Iterator[RunningServer]:
    """uvicorn held to ``settings`` on a free loopback port; ``stock`` runs uvicorn's own httptools
    protocol instead, with uvicorn's defaults, to compare with."""
    options: dict[str, Any] = {"http": "httptools"} if stock else uvicorn_options(settings)
    tiny = TinyApp()
    config = uvicorn.Config(tiny, loop="uvloop", lifespan="off", log_config=None, access_log=False, **options)
    server = uvicorn.Server(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="bounded-uvicorn")
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 5 s"
        time.sleep(0.005)
    try:
        yield RunningServer(listener.getsockname()[1], tiny, thread)
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()
