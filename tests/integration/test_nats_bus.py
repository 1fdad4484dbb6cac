"""The NATS bus against a private nats-server: its stream, its start-up errors, its secrets."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from adapters.event_ids import new_event_id
from adapters.event_json import as_encoded
from adapters.nats_bus import NatsConfigError, NatsSettings, open_nats_bus
from adapters.secret import Secret
from domain.errors import EventRejected, SenderRefused
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


NO_PUBLISHING = """accounts {
  APP { jetstream: enabled, users: [
    {user: app, password: "app-s3cr3t"},
    {user: reader, password: "reader-s3cr3t", permissions: {publish: {deny: ["eventgate.>"]}}}
  ] }
}"""


@pytest.mark.parametrize(
    ("server_auth", "credentials"),
    [
        ({"token": "t0k3n-s3cr3t"}, {"token": Secret("n0t-1t")}),
        ({"config": NO_PUBLISHING}, {"user": "app", "password": Secret("wr0ng")}),
        ({"config": NO_PUBLISHING}, {"user": "nobody", "password": Secret("app-s3cr3t")}),
    ],
    ids=["token", "password", "user"],
)
async def test_rejected_credentials_refuse_eventgate_at_once_and_the_probe_says_so(
    tmp_path: Path, server_auth: dict[str, str], credentials: dict[str, object]
) -> None:
    server = NatsServer(tmp_path, **server_auth)  # type: ignore[arg-type]
    server.start()
    try:
        async with open_nats_bus(settings_for(server.url, publish_deadline=5.0, **credentials)) as bus:
            reason = await bus.probe()
            started = time.monotonic()
            with pytest.raises(SenderRefused) as by_publish:
                await bus.publish([an_event()])
            with pytest.raises(SenderRefused) as by_publish_encoded:
                await bus.publish_encoded([as_encoded(an_event())])
            took = time.monotonic() - started
    finally:
        server.stop()

    assert reason is not None
    assert reason.startswith("credentials rejected — check EVENTGATE_NATS_TOKEN")
    assert "Authorization Violation" in reason
    for refused in (by_publish.value, by_publish_encoded.value):
        assert refused.cause == "credentials rejected"
        assert refused.accepted_ids == ()
    assert took < 1.0, "a known refusal does not wait for the publish deadline"


async def test_a_subject_the_user_may_not_publish_to_refuses_eventgate_not_the_event(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, config=NO_PUBLISHING)
    server.start()
    try:
        reader = settings_for(server.url, user="reader", password=Secret("reader-s3cr3t"))
        async with open_nats_bus(reader) as bus:
            assert await bus.probe() is None
            with pytest.raises(SenderRefused) as refused:
                await bus.publish([an_event()])
        app = settings_for(server.url, user="app", password=Secret("app-s3cr3t"))
        async with open_nats_bus(app) as bus:
            event = an_event()
            assert await bus.publish([event]) == [event.id]
    finally:
        server.stop()

    assert refused.value.cause == "permission denied"
    assert 'permissions violation for publish to "eventgate.app/clicked"' in refused.value.reason
    assert refused.value.accepted_ids == ()
