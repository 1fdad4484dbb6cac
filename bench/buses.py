"""Where a relay drain delivers, and how many events each place holds: the brokers of issue 19.

- ``private_nats``: a ``nats-server -js`` of the bench's own on free loopback ports, storing in a
  scratch folder that is removed afterwards (the stream goes with it); the count is the server's
  ``/jsz`` monitoring figure.
- ``rabbitmq_queue``: a throwaway exchange and quorum queue on the machine's RabbitMQ (127.0.0.1:5672),
  declared by the relay as it starts, counted by a passive declare, deleted afterwards.

Each gives the service's settings for the bus (``env``) and a ``delivered()`` count.
"""

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiormq

from procs import LOOPBACK, Started, free_port, http_request, started, wait_until

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
RABBITMQ_URL = f"amqp://guest:guest@{LOOPBACK}:5672/"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DrainSink:
    """A bus a relay delivers into: its name, the service's settings for it, and its event count."""

    backend: str
    env: dict[str, str]
    delivered: Callable[[], int]
    requests: Callable[[], int] | None = field(default=None)
    """Requests the bus received, where it counts them (the Inngest stand-in)."""
    broker_pid: int | None = field(default=None)
    """The broker's process, whose CPU the drain reports beside the relay's."""


@contextlib.contextmanager
def private_nats(workdir: Path) -> Iterator[DrainSink]:
    """A JetStream server of the bench's own; its store is deleted when the block ends."""
    port, monitor = free_port(), free_port()
    store = workdir / "nats-store"
    command = [NATS_SERVER, "-js", "-a", LOOPBACK, "-p", str(port), "-m", str(monitor), "-sd", str(store)]
    try:
        with started(command, dict(os.environ), workdir / "nats-server.log") as running:
            wait_until(running, lambda: _monitor_answers(monitor), timeout=30, what="nats-server")
            env = {
                "EVENTGATE_EVENT_BUS": "nats",
                "EVENTGATE_NATS_URL": f"nats://{LOOPBACK}:{port}",
                "EVENTGATE_NATS_STREAM": "EVENTGATE_BENCH",
            }
            yield DrainSink(
                "nats", env, lambda: _jetstream_messages(running, monitor), broker_pid=running.pid
            )
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _monitor_answers(monitor: int) -> bool:
    try:
        answer = http_request(monitor, "GET", "/healthz")
    except OSError:
        return False
    return answer.status == 200


def _jetstream_messages(running: Started, monitor: int) -> int:
    """Messages JetStream stores over all streams of the private server (the bench's one stream)."""
    if running.process.poll() is not None:
        raise RuntimeError(f"nats-server exited:\n{running.log_tail()}")
    answer = http_request(monitor, "GET", "/jsz")
    messages: int = json.loads(answer.body)["messages"]
    return messages


class _LoopThread:
    """An asyncio loop running in a thread of its own, so that a connection stays open between polls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-amqp", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class _QueueCounter:
    """Messages in one queue, by a passive declare on a connection kept open."""

    def __init__(self, url: str, queue: str) -> None:
        self._url = url
        self._queue = queue
        self._connection: aiormq.abc.AbstractConnection | None = None

    async def messages(self) -> int:
        if self._connection is None:
            self._connection = await aiormq.connect(self._url)
        channel = await self._connection.channel()
        try:
            declared = await channel.queue_declare(self._queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:  # the relay has not declared it yet
            return 0
        await channel.close()
        return int(declared.message_count or 0)

    async def delete(self, exchange: str) -> None:
        if self._connection is None:
            self._connection = await aiormq.connect(self._url)
        channel = await self._connection.channel()
        await channel.queue_delete(self._queue)
        await channel.exchange_delete(exchange)
        await self._connection.close()


def _erlang_vm() -> int | None:
    """The machine's RabbitMQ, when one Erlang VM runs (``beam.smp``): shared, so its CPU counts
    whatever else it serves meanwhile."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "beam.smp":
                pids.append(int(entry.name))
    return pids[0] if len(pids) == 1 else None


@contextlib.contextmanager
def rabbitmq_queue(url: str = RABBITMQ_URL) -> Iterator[DrainSink]:
    """A throwaway exchange and quorum queue of the same name, deleted when the block ends."""
    name = f"eventgate-bench-{secrets.token_hex(4)}"
    counter = _QueueCounter(url, name)
    loop = _LoopThread()
    env = {
        "EVENTGATE_EVENT_BUS": "rabbitmq",
        "EVENTGATE_RABBITMQ_URL": url,
        "EVENTGATE_RABBITMQ_EXCHANGE": name,
        "EVENTGATE_RABBITMQ_QUEUE": name,
    }
    try:
        yield DrainSink("rabbitmq", env, lambda: loop.call(counter.messages()), broker_pid=_erlang_vm())
    finally:
        try:
            loop.call(counter.delete(name))
        finally:
            loop.stop()
