"""Brokers for tests: a private ``nats-server`` with JetStream, and the shared RabbitMQ, on loopback.

A ``NatsServer`` is a process of its own on a free port with its store in a temporary folder, so a
test may kill and restart it. RabbitMQ is the machine's (127.0.0.1:5672, guest/guest): each test
declares exchanges and queues of its own names and deletes them afterwards.
"""

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiormq

from adapters.rabbitmq_bus.bus import QUORUM

RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
RABBITMQ_URL = f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class NatsServer:
    """``nats-server -js`` on ``port``, storing in ``folder``; ``kill`` and ``start`` keep both.

    ``token`` makes it ask for that token; ``config`` is added to its configuration as it is (users,
    accounts, TLS).
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_payload: int | None = None,
        token: str | None = None,
        config: str = "",
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self._max_payload = max_payload
        self._token = token
        self._config = config
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.folder / "nats.conf"
        lines = [
            f"listen: 127.0.0.1:{self.port}",
            f'jetstream {{ store_dir: "{self.folder / "store"}" }}',
        ]
        if self._max_payload is not None:
            lines.append(f"max_payload: {self._max_payload}")
        if self._token is not None:
            lines.append(f'authorization {{ token: "{self._token}" }}')
        if self._config:
            lines.append(self._config)
        config.write_text("\n".join(lines) + "\n")
        with (self.folder / "nats.log").open("ab") as log:
            self._process = subprocess.Popen([NATS_SERVER, "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}; see {self.folder}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)
                continue
            return
        raise RuntimeError(f"nats-server did not listen on {self.port} within {START_TIMEOUT} s")

    def kill(self) -> None:
        """``kill -9``: the server gets no chance to flush or say goodbye."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(START_TIMEOUT)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(START_TIMEOUT)
        self._process = None


async def declare_rabbitmq(exchange: str, queue: str) -> None:
    """Declare what the RabbitMQ bus declares at start, so that a consumer may read before it has."""
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        await channel.queue_declare(queue, durable=True, arguments=QUORUM)
        await channel.queue_bind(queue, exchange, routing_key="#")


async def delete_rabbitmq(exchange: str, queue: str) -> None:
    """Remove a test's exchange and queue from the shared broker, whatever state they are in."""
    async with aiormq.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        if queue:
            await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


@dataclass(frozen=True, slots=True)
class RabbitmqAccount:
    vhost: str
    user: str
    password: str

    def url(self, port: int = RABBITMQ_PORT) -> str:
        return f"amqp://{self.user}:{self.password}@{RABBITMQ_HOST}:{port}/{self.vhost}"


def rabbitmqctl(*arguments: str) -> None:
    subprocess.run([RABBITMQCTL, *arguments], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def rabbitmq_account(permissions: tuple[str, str, str] | None) -> Iterator[RabbitmqAccount]:
    """A virtual host and a user of their own on the shared broker, removed afterwards; the user has
    ``permissions`` (configure, write, read patterns) on the virtual host, or no access at all."""
    account = RabbitmqAccount(
        unique_name("eventgate-test"), unique_name("eventgate-test"), secrets.token_hex(8)
    )
    rabbitmqctl("add_vhost", account.vhost)
    try:
        rabbitmqctl("add_user", account.user, account.password)
        try:
            if permissions is not None:
                rabbitmqctl("set_permissions", "-p", account.vhost, account.user, *permissions)
            yield account
        finally:
            rabbitmqctl("delete_user", account.user)
    finally:
        rabbitmqctl("delete_vhost", account.vhost)
