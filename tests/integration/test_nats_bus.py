"""The NATS bus against a private nats-server: its stream, its start-up errors, its secrets."""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from adapters.event_ids import new_event_id
from adapters.nats_bus import NatsConfigError, NatsSettings, open_nats_bus
from adapters.secret import Secret
from domain.errors import EventRejected
from domain.event import UserEvent
from tests.brokers import NatsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.stop()


def settings_for(url: str, **overrides: object) -> NatsSettings:
    fields: dict[str, object] = {"url": Secret(url), "publish_deadline": 1.0, "connect_timeout": 0.5}
    return NatsSettings(**(fields | overrides))  # type: ignore[arg-type]


def an_event() -> UserEvent:
    return UserEvent(name="app/clicked", data={"n": 1}, id=new_event_id(), ts=1_795_000_000_000)


async def test_creates_the_stream_it_needs(server: NatsServer) -> None:
    async with open_nats_bus(settings_for(server.url)):
        pass

    client = await nats.connect(server.url)
    config = (await client.jetstream().stream_info("EVENTGATE")).config
    await client.close()
    assert config.subjects == ["eventgate.>"]
    assert config.storage == StorageType.FILE
    assert config.duplicate_window == 120


@pytest.mark.parametrize(
    ("existing", "complaint"),
    [
        (StreamConfig(name="EVENTGATE", subjects=["elsewhere.>"]), "does not capture eventgate.>"),
        (StreamConfig(name="EVENTGATE", subjects=["eventgate.>"], duplicate_window=10), "duplicate window"),
        (
            StreamConfig(name="EVENTGATE", subjects=["eventgate.>"], storage=StorageType.MEMORY),
            "in memory",
        ),
    ],
)
async def test_refuses_to_start_on_a_stream_that_breaks_the_guarantees(
    server: NatsServer, existing: StreamConfig, complaint: str
) -> None:
    client = await nats.connect(server.url)
    await client.jetstream().add_stream(existing)
    await client.close()

    with pytest.raises(NatsConfigError, match=complaint):
        async with open_nats_bus(settings_for(server.url)):
            pass


async def test_uses_an_existing_stream_that_keeps_the_guarantees(server: NatsServer) -> None:
    client = await nats.connect(server.url)
    await client.jetstream().add_stream(
        StreamConfig(
            name="EVENTGATE", subjects=["eventgate.>"], storage=StorageType.FILE, duplicate_window=600
        )
    )
    await client.close()

    event = an_event()
    async with open_nats_bus(settings_for(server.url)) as bus:
        assert await bus.publish([event]) == [event.id]


async def test_a_stream_deleted_under_it_rejects_events_and_says_why(server: NatsServer) -> None:
    async with open_nats_bus(settings_for(server.url)) as bus:
        client = await nats.connect(server.url)
        await client.jetstream().delete_stream("EVENTGATE")
        await client.close()

        with pytest.raises(EventRejected, match="stream EVENTGATE does not exist"):
            await bus.publish([an_event()])
        assert await bus.probe() == "the JetStream stream EVENTGATE does not exist"


async def test_ignores_stray_replies_on_its_inbox_while_it_waits_for_answers(server: NatsServer) -> None:
    async with open_nats_bus(settings_for(server.url, publish_deadline=5.0)) as bus:
        inbox = bus._inbox  # where the stream's answers come: <inbox><publish>.<position>
        intruder = await nats.connect(server.url)
        events = [an_event() for _ in range(5000)]
        publishing = asyncio.create_task(bus.publish(events))
        while not publishing.done():
            for stray in ("x.y", "0.x", "0.-1", "0.1000", "0.99999", "1.5"):
                await intruder.publish(f"{inbox}{stray}", b"{}")
            await intruder.flush()
        await intruder.close()

        assert await publishing == [event.id for event in events]
        assert await bus.publish([events[0]]) == [events[0].id]


async def test_never_logs_the_token_or_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = NatsServer(tmp_path, token="t0k3n-s3cr3t")
    server.start()
    try:
        caplog.set_level(logging.DEBUG)
        wrong = settings_for(f"nats://wr0ng-s3cr3t@127.0.0.1:{server.port}", token=Secret("n0t-1t"))
        async with open_nats_bus(wrong) as bus:
            reason = await bus.probe()
        right = settings_for(f"nats://127.0.0.1:{server.port}", token=Secret("t0k3n-s3cr3t"))
        async with open_nats_bus(right) as bus:
            assert await bus.probe() is None
    finally:
        server.stop()

    assert reason is not None
    said = caplog.text + reason + repr(wrong) + repr(right)
    for secret in ("t0k3n-s3cr3t", "wr0ng-s3cr3t", "n0t-1t"):
        assert secret not in said


async def test_refuses_a_subject_prefix_that_is_not_a_literal_subject() -> None:
    with pytest.raises(NatsConfigError, match="EVENTGATE_NATS_SUBJECT_PREFIX"):
        async with open_nats_bus(settings_for("nats://127.0.0.1:1", subject_prefix="events.*")):
            pass
