"""Publish throughput of each event bus adapter, in batches of the relay's size, on loopback.

For each backend the adapter publishes ``--batches`` batches of ``--batch`` events one after another,
as the relay does, after one batch to warm up. It reports events per second (wall clock) and the
CPU this process spent per event (user + system), which is the adapter's share; the broker's own
CPU is not counted. Backends: ``inngest`` (``bench/stand_in.py``, started here), ``nats`` (the
machine's JetStream at 127.0.0.1:4222) and ``rabbitmq`` (the machine's broker at 127.0.0.1:5672),
each on a stream, or an exchange and quorum queue, of its own that is deleted afterwards.

With ``--runs`` above 1 each backend is measured that many times, on a new bus each time, and the
median and the slowest run are reported: the brokers share the machine's CPU with everything else.

Run: ``.venv/bin/python bench/bus_publish.py [--batches 20] [--batch 1000] [--runs 5] [--in-flight 1]
[--backend nats ...]``.
"""

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiormq
import nats
import uvloop
from adapters.inngest import InngestEventBus, RetryPolicy, open_http_client, resolve_endpoint
from adapters.inngest.client import HttpClientSettings
from adapters.nats_bus import NatsSettings, open_nats_bus
from adapters.rabbitmq_bus import RabbitmqSettings, open_rabbitmq_bus
from adapters.secret import Secret
from application.ports import EventBusPort
from domain.event import UserEvent
from domain.event_ids import new_event_id

HERE = Path(__file__).resolve().parent
NATS_URL = "nats://127.0.0.1:4222"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_batch(size: int) -> list[UserEvent]:
    return [
        UserEvent(
            name="app/clicked",
            data={"user": {"id": "user-1", "name": "Load Tester"}, "payload": {"n": n, "page": "/pricing"}},
            id=new_event_id(),
            ts=int(time.time() * 1000),
        )
        for n in range(size)
    ]


@contextlib.asynccontextmanager
async def inngest_bus() -> AsyncIterator[EventBusPort]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "stand_in.py"), stdout=asyncio.subprocess.PIPE
    )
    try:
        if process.stdout is None:
            raise RuntimeError("the stand-in's output is not piped")
        port = int((await process.stdout.readline()).split()[1])
        endpoint = resolve_endpoint(
            {"INNGEST_EVENT_KEY": "bench", "INNGEST_BASE_URL": f"http://127.0.0.1:{port}"}
        )
        async with open_http_client(HttpClientSettings()) as client:
            yield InngestEventBus(client, endpoint, retry=RetryPolicy())
    finally:
        process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def nats_bus() -> AsyncIterator[EventBusPort]:
    suffix = uuid.uuid4().hex[:8]
    settings = NatsSettings(url=Secret(NATS_URL), stream=f"BENCH_{suffix}", subject_prefix=f"bench{suffix}")
    try:
        async with open_nats_bus(settings) as bus:
            yield bus
    finally:
        client = await nats.connect(NATS_URL)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await client.jetstream().delete_stream(settings.stream)
        await client.close()


@contextlib.asynccontextmanager
async def rabbitmq_bus() -> AsyncIterator[EventBusPort]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        async with open_rabbitmq_bus(
            RabbitmqSettings(url=Secret(RABBITMQ_URL), exchange=name, queue=name)
        ) as bus:
            yield bus
    finally:
        async with aiormq.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.exchange_delete(name)


BACKENDS: dict[str, Callable[[], AbstractAsyncContextManager[EventBusPort]]] = {
    "inngest": inngest_bus,
    "nats": nats_bus,
    "rabbitmq": rabbitmq_bus,
}


async def measure(name: str, batches: int, size: int, in_flight: int = 1) -> tuple[float, float]:
    """Events per second and CPU microseconds per event of ``batches`` publishes of ``size`` events,
    ``in_flight`` of them at a time (the relay has one)."""
    async with BACKENDS[name]() as bus:
        await bus.publish(make_batch(size))
        prepared = [make_batch(size) for _ in range(batches)]

        async def publish_every(batches: list[list[UserEvent]]) -> None:
            for batch in batches:
                await bus.publish(batch)

        started, cpu = time.perf_counter(), cpu_seconds()
        await asyncio.gather(*(publish_every(prepared[lane::in_flight]) for lane in range(in_flight)))
        elapsed, spent = time.perf_counter() - started, cpu_seconds() - cpu
    events = batches * size
    return events / elapsed, spent / events * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=1, help="publishes under way at once; the relay: 1")
    parser.add_argument("--backend", action="append", choices=list(BACKENDS), help="repeatable; default: all")
    options = parser.parse_args(argv)
    print(
        f"{'backend':<10} {'events/s':>10} {'CPU µs/event':>13}   ({options.batches} x {options.batch}, {options.in_flight} in flight, pid {os.getpid()})"
    )
    for name in options.backend or list(BACKENDS):
        runs = [
            uvloop.run(measure(name, options.batches, options.batch, options.in_flight))
            for _ in range(options.runs)
        ]
        if len(runs) == 1:
            [(rate, cpu)] = runs
            print(f"{name:<10} {rate:>10,.0f} {cpu:>13.1f}")
            continue
        rates, cpus = sorted(rate for rate, _ in runs), sorted(cpu for _, cpu in runs)
        print(
            f"{name:<10} {statistics.median(rates):>10,.0f} {statistics.median(cpus):>13.1f}   median of {len(runs)}"
        )
        print(f"{'':<10} {rates[0]:>10,.0f} {cpus[-1]:>13.1f}   slowest, most CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
