"""The PostgreSQL outbox's promise under faults, on the real service and a private PostgreSQL cluster.

Instances of ``eventgate serve`` share one database, on a cluster of this module's own, which the
scenarios stop, ``kill -9`` and restart; connections go through a loopback fault proxy where a
scenario cuts them. Each scenario counts by event id: what was acknowledged (200), delivered to a
stand-in for Inngest, delivered twice at the transport (Inngest deduplicates by id), and how long
delivery took to resume.
"""

# ruff: noqa: S608  statements name the scenario's own schema

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.faults.tcp_proxy import TcpFaultProxy
from tests.integration.inngest_stand_in import EventApiStandIn, RecordedRequest, Reply, Step
from tests.postgres_cluster import PostgresCluster, running_cluster, unique_schema
from tests.reliability.harness import Service, report, session_cookie, wait_until

LEASE_SECONDS = 30
"""Long beside the 5 s target: events resumed sooner were released, not left to run out."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster(max_connections=40) as running:
        yield running


@pytest.fixture
def schema() -> str:
    return unique_schema()


def instance(folder: Path, url: str, schema: str, inngest_port: int, **environment: str) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    return Service(
        folder=folder,
        inngest_port=inngest_port,
        environment={
            "EVENTGATE_OUTBOX_URL": url,
            "EVENTGATE_OUTBOX_SCHEMA": schema,
            "EVENTGATE_OUTBOX_POOL_SIZE": "4",
            "EVENTGATE_OUTBOX_TIMEOUT": "1",
            "EVENTGATE_RELAY_LEASE": str(LEASE_SECONDS),
        }
        | environment,
    )


def query(url: str, statement: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetch(statement)
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass
class SteadyLoad:
    """Signed-in requests, ``concurrency`` at a time spread over ``urls``, until ``stop()``."""

    urls: list[str]
    concurrency: int = 12
    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after_missing: int = 0
    last_acknowledged_at: float = 0.0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "SteadyLoad":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        assert self._thread is not None
        self._thread.join(timeout=60)

    def wait_for(self, acknowledged: int, timeout: float = 30) -> None:
        wait_until(lambda: len(self.acknowledged) >= acknowledged, timeout, f"{acknowledged} acknowledged")

    async def _run(self) -> None:
        cookie = session_cookie()
        counter = iter(range(10**9))
        async with httpx.AsyncClient(timeout=15) as client:

            async def worker(url: str) -> None:
                while not self._stopping.is_set():
                    number = next(counter)
                    try:
                        response = await client.post(
                            f"{url}/api",
                            json={"name": "app/load", "data": {"n": number}},
                            headers={"Cookie": cookie},
                        )
                    except httpx.TransportError:
                        self.statuses[0] += 1
                        await asyncio.sleep(0.05)
                        continue
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.acknowledged.extend(response.json()["ids"])
                        self.last_acknowledged_at = time.monotonic()
                    else:
                        self.retry_after_missing += "retry-after" not in response.headers
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(worker(self.urls[n % len(self.urls)]) for n in range(self.concurrency)))


def slow_bus(seconds: float) -> Callable[[RecordedRequest], Step]:
    """A bus that takes ``seconds`` to answer each publish: relays hold their leases meanwhile."""

    def answer(request: RecordedRequest) -> Step:
        time.sleep(seconds)
        return Reply()

    return answer


def delivered_states(url: str, schema: str, ids: list[str]) -> Counter[str]:
    rows = query(url, f"SELECT state FROM {schema}.outbox WHERE id = ANY(ARRAY{ids!r}::text[])")
    return Counter(row["state"] for row in rows)


def assert_every_acknowledged_event_delivered(
    cluster: PostgresCluster,
    schema: str,
    stand_in: EventApiStandIn,
    acknowledged: list[str],
    timeout: float = 60,
) -> Counter[str]:
    wait_until(
        lambda: set(acknowledged) <= set(stand_in.accepted_event_ids),
        timeout,
        "every acknowledged event arrived",
    )
    wait_until(
        lambda: (
            delivered_states(cluster.url, schema, acknowledged) == Counter(delivered=len(set(acknowledged)))
        ),
        timeout,
        "every acknowledged event is marked delivered",
    )
    return Counter(stand_in.accepted_event_ids)


def report_load(scenario: str, load: "SteadyLoad", arrivals: Counter[str], **figures: object) -> None:
    """A scenario's figures: what the load sent and had acknowledged, what reached the bus, and more."""
    report(
        scenario,
        sent=sum(load.statuses.values()),
        acknowledged=len(load.acknowledged),
        delivered=len(set(arrivals) & set(load.acknowledged)),
        duplicated_at_transport=sum(count - 1 for count in arrivals.values()),
        **figures,
        statuses=dict(load.statuses),
    )


def test_three_instances_one_killed_mid_load_lose_nothing_and_its_events_move_within_5_s(
    cluster: PostgresCluster, schema: str, tmp_path: Path
) -> None:
    with EventApiStandIn(policy=slow_bus(0.5)) as stand_in:
        port = int(stand_in.url.rsplit(":", 1)[1])
        services = [instance(tmp_path / f"i{n}", cluster.url, schema, port) for n in range(3)]
        for service in services:
            service.start()
        try:
            load = SteadyLoad([service.url for service in services]).start()
            load.wait_for(300)
            victim = services[0]
            assert victim.process is not None
            owner = f"%:{victim.process.pid}:%"
            # Read before the kill: a live instance's next look releases a dead one's leases at once.
            leased = [
                row["id"]
                for row in query(
                    cluster.url,
                    f"SELECT id FROM {schema}.outbox WHERE state = 'pending' AND lease_owner LIKE '{owner}'",
                )
            ]
            victim.kill()
            killed_at = time.monotonic()
            wait_until(
                lambda: delivered_states(cluster.url, schema, leased)["delivered"] > 0 or not leased,
                LEASE_SECONDS,
                "the dead instance's events move",
            )
            resumed_after = time.monotonic() - killed_at
            time.sleep(1)
            load.stop()
            arrivals = assert_every_acknowledged_event_delivered(cluster, schema, stand_in, load.acknowledged)
        finally:
            for service in services:
                service.stop()

    report_load(
        "postgresql: three instances, one killed",
        load,
        arrivals,
        leased_by_the_dead=len(leased),
        resumed_after_s=round(resumed_after, 2),
    )
    assert leased, "the killed instance held leases when it died (the bus is slow on purpose)"
    assert resumed_after < 5
    assert set(load.statuses) <= {0, 200}, "only the killed instance's connections failed"


def test_postgresql_stopped_mid_load_answers_503_and_loses_nothing(
    cluster: PostgresCluster, schema: str, tmp_path: Path
) -> None:
    with EventApiStandIn() as stand_in:
        port = int(stand_in.url.rsplit(":", 1)[1])
        service = instance(tmp_path / "i", cluster.url, schema, port)
        service.start()
        try:
            load = SteadyLoad([service.url]).start()
            load.wait_for(200)
            cluster.stop()
            time.sleep(3)
            acknowledged_while_down = time.monotonic() - load.last_acknowledged_at < 2
            cluster.start()
            restarted_at = time.monotonic()
            before = len(load.acknowledged)
            wait_until(lambda: len(load.acknowledged) > before, 30, "requests succeed again")
            resumed_after = time.monotonic() - restarted_at
            load.wait_for(before + 100)
            load.stop()
            arrivals = assert_every_acknowledged_event_delivered(cluster, schema, stand_in, load.acknowledged)
        finally:
            service.stop()

    report_load(
        "postgresql: stopped mid-load",
        load,
        arrivals,
        resumed_after_restart_s=round(resumed_after, 2),
    )
    assert not acknowledged_while_down, "nothing was acknowledged while the database was down"
    assert load.statuses[503] > 0
    assert set(load.statuses) <= {200, 503}
    assert load.retry_after_missing == 0


def test_postgresql_killed_mid_load_loses_nothing_acknowledged(
    cluster: PostgresCluster, schema: str, tmp_path: Path
) -> None:
    with EventApiStandIn() as stand_in:
        port = int(stand_in.url.rsplit(":", 1)[1])
        service = instance(tmp_path / "i", cluster.url, schema, port)
        service.start()
        try:
            load = SteadyLoad([service.url]).start()
            load.wait_for(200)
            cluster.kill()
            killed_acknowledged = len(load.acknowledged)
            time.sleep(1)
            cluster.start()
            restarted_at = time.monotonic()
            wait_until(
                lambda: len(load.acknowledged) > killed_acknowledged + 50, 30, "requests succeed again"
            )
            resumed_after = time.monotonic() - restarted_at
            load.stop()
            arrivals = assert_every_acknowledged_event_delivered(cluster, schema, stand_in, load.acknowledged)
        finally:
            service.stop()

    report_load(
        "postgresql: killed mid-load (crash recovery)",
        load,
        arrivals,
        resumed_after_restart_s=round(resumed_after, 2),
    )
    assert set(load.statuses) <= {200, 503}
    assert load.retry_after_missing == 0


def test_pool_exhausted_and_connections_cut_answer_503_never_500_and_lose_nothing(
    cluster: PostgresCluster, schema: str, tmp_path: Path
) -> None:
    with EventApiStandIn() as stand_in, TcpFaultProxy("127.0.0.1", cluster.port) as proxy:
        port = int(stand_in.url.rsplit(":", 1)[1])
        proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        service = instance(tmp_path / "i", proxied, schema, port, EVENTGATE_OUTBOX_POOL_SIZE="2")
        service.start()
        hogs: list[asyncpg.Connection] = []
        hogging = asyncio.new_event_loop()
        try:
            load = SteadyLoad([service.url], concurrency=24).start()
            load.wait_for(100)
            for _ in range(3):
                proxy.cut()
                time.sleep(0.7)
            proxy.refuse()  # every connection of the instance goes, and none comes back yet
            wait_until(lambda: not instance_backends(cluster.url), 10, "the instance's backends exit")
            hogs = hogging.run_until_complete(take_every_connection(cluster.url))
            before_exhaustion = load.statuses[503]
            proxy.forward()  # the instance reaches a server that has no connection left to give
            time.sleep(2)
            out_of_connections = load.statuses[503] - before_exhaustion
            for hog in hogs:
                hogging.run_until_complete(hog.close())
            hogs = []
            before = len(load.acknowledged)
            wait_until(lambda: len(load.acknowledged) > before + 100, 30, "requests succeed again")
            load.stop()
            arrivals = assert_every_acknowledged_event_delivered(cluster, schema, stand_in, load.acknowledged)
        finally:
            for hog in hogs:
                hogging.run_until_complete(hog.close())
            hogging.close()
            service.stop()

    report_load(
        "postgresql: pool exhausted, connections cut",
        load,
        arrivals,
        unavailable_while_out_of_connections=out_of_connections,
    )
    assert out_of_connections > 0, "a server with no connection to give answers 503"
    assert set(load.statuses) <= {200, 503}, "no 500, whatever broke"
    assert load.retry_after_missing == 0


def instance_backends(url: str) -> int:
    """The server's backends still serving an eventgate instance; a cut connection's backend exits soon after."""
    rows = query(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'eventgate-outbox'")
    return int(rows[0][0])


async def take_every_connection(url: str) -> list[asyncpg.Connection]:
    """Open connections until the server refuses more: ``too many clients``, for anyone else too."""
    taken: list[asyncpg.Connection] = []
    while True:
        try:
            taken.append(await asyncpg.connect(url))
        except asyncpg.TooManyConnectionsError:
            return taken
