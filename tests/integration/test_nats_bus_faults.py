"""The NATS bus while its server is down, killed with ``kill -9`` and restarted, under load.

Whatever happens, every event a publish acknowledged is in the stream, and the stream holds each
event once: JetStream drops a repeated ``Nats-Msg-Id`` within its duplicate window.
"""

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest

from adapters.nats_bus import NatsSettings, open_nats_bus
from adapters.secret import Secret
from domain.errors import EventBusUnavailable
from tests.brokers import NatsServer
from tests.consumers import read_stream
from tests.faults.delivery import Figures, acknowledged_at_least, deliver, make_load

pytestmark = pytest.mark.anyio
logger = logging.getLogger(__name__)


def settings_for(server: NatsServer, deadline: float) -> NatsSettings:
    return NatsSettings(url=Secret(server.url), publish_deadline=deadline, connect_timeout=0.3)


async def stored_ids(server: NatsServer) -> list[str]:
    return [arrival.event_id for arrival in await read_stream(server.url, "EVENTGATE", "eventgate.>")]


async def test_a_server_down_for_the_whole_load_then_up_gets_every_event(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    events = make_load(2_000)
    try:
        async with open_nats_bus(settings_for(server, deadline=0.5)) as bus:
            with pytest.raises(EventBusUnavailable, match="unreachable"):
                await bus.publish(events[:10])
            delivery = asyncio.create_task(deliver(bus, events, batch=500, time_limit=20))
            await asyncio.sleep(1.0)
            server.start()
            figures = await delivery
        stored = await stored_ids(server)
    finally:
        server.stop()

    logger.info("NATS down, then up: %s", figures.summary(stored))
    assert sorted(figures.acknowledged) == sorted(event.id for event in events)
    assert Counter(stored) == Counter(figures.acknowledged)
    assert figures.failures


async def test_a_server_killed_and_restarted_mid_load_loses_nothing_and_stores_each_event_once(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path)
    server.start()
    events = make_load(20_000)
    try:
        async with open_nats_bus(settings_for(server, deadline=2.0)) as bus:
            progress = Figures(events=len(events))
            delivery = asyncio.create_task(deliver(bus, events, batch=1000, time_limit=30, figures=progress))
            for share in (0.25, 0.5):
                async with asyncio.timeout(30):
                    await acknowledged_at_least(progress, int(share * len(events)))
                assert not delivery.done()
                server.kill()
                await asyncio.sleep(0.3)
                server.start()
            figures = await delivery
        stored = await stored_ids(server)
    finally:
        server.stop()

    logger.info("NATS killed twice: %s", figures.summary(stored))
    assert sorted(figures.acknowledged) == sorted(event.id for event in events)
    assert set(stored) >= set(figures.acknowledged)
    assert max(Counter(stored).values()) == 1
