"""The README's consumer snippets ("Reading the events"), run as written on events eventgate published.

Each snippet runs as a Python process of its own and must print each event once, as it says it does.
The one liberty taken: the NATS snippet reaches a private ``nats-server`` (its URL replaced), and the
RabbitMQ one reads a queue of the test's own on the shared broker (the queue's name replaced), so
that each reads only this test's events.
"""

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.event_ids import new_event_id
from adapters.nats_bus import NatsSettings, open_nats_bus
from adapters.rabbitmq_bus import RabbitmqSettings, open_rabbitmq_bus
from adapters.secret import Secret
from domain.event import UserEvent
from tests.brokers import NatsServer, delete_rabbitmq, unique_name

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[2] / "README.md"
OUTPUT_TIMEOUT = 30.0


def snippet(importing: str) -> str:
    """The Python block of the README's "Reading the events" section that imports ``importing``."""
    text = README.read_text()
    start = text.index("### Reading the events\n")
    section = text[start : text.index("\n## ", start)]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    [found] = [block for block in blocks if f"\nimport {importing}\n" in block]
    return str(found)


def replaced_once(code: str, old: str, new: str) -> str:
    assert code.count(old) == 1, f"the README's snippet no longer holds {old!r}"
    return code.replace(old, new)


def make_events(count: int) -> list[UserEvent]:
    return [
        UserEvent(
            name="app/user.clicked",
            data={"user": {"id": "u-1", "name": "Ada"}, "payload": {"page": "/pricing", "n": n}},
            id=new_event_id(),
            ts=1_795_000_000_000 + n,
        )
        for n in range(count)
    ]


def printed(event: UserEvent) -> str:
    """The line the snippets print for an event: ``print(event["id"], event["name"], event["data"])``."""
    return f"{event.id} {event.name} {event.data}"


@asynccontextmanager
async def running(code: str) -> AsyncIterator[asyncio.StreamReader]:
    """The snippet as a process of its own, its output readable line by line; stopped at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        yield process.stdout
    finally:
        if process.returncode is None:
            process.terminate()
        _, errors = await process.communicate()
        assert b"Traceback" not in errors, errors.decode()


async def lines(output: asyncio.StreamReader, count: int) -> list[str]:
    read: list[str] = []
    async with asyncio.timeout(OUTPUT_TIMEOUT):
        while len(read) < count:
            line = await output.readline()
            assert line, f"the snippet ended after printing {read}"
            read.append(line.decode().rstrip("\n"))
    return read


async def nothing_more(output: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(2.0):
            await output.readline()
    except TimeoutError:
        return True
    return False


async def test_the_nats_snippet_prints_each_event_eventgate_published(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    server.start()
    events = make_events(3)
    try:
        async with open_nats_bus(NatsSettings(url=Secret(server.url))) as bus:
            await bus.publish(events)
            await bus.publish(events[:1])  # the stream drops it: the same Nats-Msg-Id within its window
        code = replaced_once(snippet("nats"), '"nats://127.0.0.1:4222"', repr(server.url))
        async with running(code) as output:
            assert await lines(output, len(events)) == [printed(event) for event in events]
            assert await nothing_more(output), "an event was printed twice"
    finally:
        server.stop()


async def test_the_rabbitmq_snippet_prints_each_event_once_though_the_queue_holds_it_twice() -> None:
    name = unique_name("readme")
    events = make_events(3)
    try:
        async with open_rabbitmq_bus(RabbitmqSettings(exchange=name, queue=name)) as bus:
            await bus.publish(events)
            await bus.publish(events[:1])  # RabbitMQ keeps both copies: the consumer drops one
        code = replaced_once(snippet("aiormq"), 'basic_consume("eventgate"', f"basic_consume({name!r}")
        async with running(code) as output:
            assert await lines(output, len(events)) == [printed(event) for event in events]
            assert await nothing_more(output), "an event was printed twice"
    finally:
        await delete_rabbitmq(name, name)
