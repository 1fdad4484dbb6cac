"""CPU per POST of ``InngestEventBus.publish`` through each HTTP transport behind ``httpx.AsyncClient``.

Starts ``bench/stand_in.py`` (the loopback event-API stand-in), then, in this one process, publishes
batches of 1, 70 and 1000 events at concurrency 1 and 32 through our real ``InngestEventBus``, once
per transport, and measures this process's CPU time (user + system, every thread:
``time.process_time``) per POST. Wall time is not used: others may load the machine meanwhile.
Every configuration is measured in each of ``--rounds`` rounds, in a rotating order, on a fresh
client (connections are opened in a warm-up that is not measured); the table shows medians.

Transports:

- ``null``: ``httpx.MockTransport`` answering at once, no socket: the floor that our adapter and
  httpx's client layer (request building, cookies, response reading) cost without any I/O;
- ``httpx``: httpx's default ``AsyncHTTPTransport`` (httpcore + h11 + anyio), configured as
  ``HttpClientSettings`` configures it;
- ``aiohttp``: the ``httpx-aiohttp`` package's ``AiohttpTransport`` as it ships, same limits;
- ``curl``: libcurl through ``httpx-curl-cffi``'s ``AsyncCurlTransport`` (not a dependency:
  ``pip install --target DIR httpx-curl-cffi curl-cffi`` and run with ``PYTHONPATH=DIR``);
- ``service``: whatever ``adapters.inngest.open_http_client`` builds today, the client the service uses.

Also measured: ``encode``, the part of a POST that is our encoding of the events
(``batches.split``), with no HTTP at all.

Run: ``.venv/bin/python bench/transport.py [--rounds 5] [--cpu 0.3] [--transports httpx,aiohttp]``;
``--profile httpx:70:1`` runs one configuration under cProfile and prints where its CPU goes;
``--log-level info`` adds the cost of httpx's request log line as the service writes it.
"""

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from adapters.event_json import as_encoded
from adapters.inngest import HttpClientSettings, InngestEventBus, open_http_client
from adapters.inngest import batches as inngest_batches
from adapters.inngest.endpoint import InngestEndpoint, Mode
from domain.event import UserEvent
from entrypoints.composition.logs import JsonFormatter

from procs import Started, cpu_seconds, read_ready_line, started

try:
    import uvloop
except ImportError:  # pragma: no cover - the service's venv has it
    uvloop = None  # type: ignore[assignment]

BENCH_DIR = Path(__file__).resolve().parent
BATCH_SIZES = (1, 70, 1000)
CONCURRENCIES = (1, 32)
KEY = "bench-transport-key"
SETTINGS = HttpClientSettings()

ClientFactory = Callable[[int], AbstractAsyncContextManager[httpx.AsyncClient]]
"""Opens a client; the argument is the batch size, which only the ``null`` transport needs."""


def make_event(serial: int) -> UserEvent:
    """An event shaped like the service's: the session user and a small payload."""
    return UserEvent(
        name="app/user.event",
        data={
            "user": {"id": f"user-{serial % 97}", "name": "Ada Lovelace", "email": "ada@example.com"},
            "payload": {"page": "/checkout", "step": serial % 5, "ok": True},
        },
        id=f"0198c3a4-7b1e-7c2d-9e0f-{serial:012d}",
        ts=1_795_891_200_000 + serial,
    )


@contextlib.asynccontextmanager
async def httpx_default(_batch: int) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        timeout=SETTINGS.timeout, limits=SETTINGS.limits, follow_redirects=False
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def httpx_aiohttp(_batch: int) -> AsyncIterator[httpx.AsyncClient]:
    from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - optional: only when measured

    transport = AiohttpTransport(limits=SETTINGS.limits)
    async with httpx.AsyncClient(
        transport=transport, timeout=SETTINGS.timeout, follow_redirects=False
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def httpx_curl_cffi(_batch: int) -> AsyncIterator[httpx.AsyncClient]:
    """libcurl through ``curl_cffi`` (``pip install httpx-curl-cffi`` first: not a dependency)."""
    from httpx_curl_cffi import AsyncCurlTransport  # noqa: PLC0415 - optional: only when measured

    transport = AsyncCurlTransport(max_connections=SETTINGS.max_connections)
    async with httpx.AsyncClient(
        transport=transport, timeout=SETTINGS.timeout, follow_redirects=False
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def service_client(_batch: int) -> AsyncIterator[httpx.AsyncClient]:
    async with open_http_client(SETTINGS) as client:
        yield client


@contextlib.asynccontextmanager
async def null_transport(batch: int) -> AsyncIterator[httpx.AsyncClient]:
    answer = msgspec.json.encode({"ids": [f"01NULL{n:020d}" for n in range(batch)], "status": 200})

    def acknowledge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(acknowledge), timeout=SETTINGS.timeout, follow_redirects=False
    ) as client:
        yield client


TRANSPORTS: dict[str, ClientFactory] = {
    "null": null_transport,
    "httpx": httpx_default,
    "aiohttp": httpx_aiohttp,
    "curl": httpx_curl_cffi,
    "service": service_client,
}


@dataclass(frozen=True, slots=True)
class Config:
    transport: str
    batch: int
    concurrency: int

    @property
    def label(self) -> str:
        return f"{self.transport}:{self.batch}:{self.concurrency}"


@dataclass(slots=True)
class Sample:
    """One measurement: CPU of this process and of the stand-in, per POST, in microseconds."""

    cpu_us: float
    stand_in_us: float
    posts: int
    posts_per_s: float


@dataclass(slots=True)
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, label: str, sample: Sample) -> None:
        self.samples.setdefault(label, []).append(sample)


async def publish_many(
    bus: InngestEventBus, events: Sequence[UserEvent], posts: int, concurrency: int
) -> None:
    """``posts`` publishes of ``events`` (one POST each), ``concurrency`` at a time."""
    remaining = posts

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await bus.publish(events)

    async with asyncio.TaskGroup() as tasks:
        for _ in range(min(concurrency, posts)):
            tasks.create_task(worker())


async def measure(
    config: Config, url: str, stand_in_pid: int | None, cpu_target: float, profile: cProfile.Profile | None
) -> Sample:
    events = [make_event(n) for n in range(config.batch)]
    endpoint = InngestEndpoint(base_url=url, event_key=KEY, mode=Mode.DEV)
    async with TRANSPORTS[config.transport](config.batch) as client:
        bus = InngestEventBus(client, endpoint)
        # Warm up: open the connections and estimate the cost, to size the measured run.
        warm_posts = max(2 * config.concurrency, 20)
        started_cpu = time.process_time()
        await publish_many(bus, events, warm_posts, config.concurrency)
        estimate = max((time.process_time() - started_cpu) / warm_posts, 1e-6)
        posts = max(int(cpu_target / estimate), 4 * config.concurrency, 40)
        gc.collect()
        stand_in_before = cpu_seconds(stand_in_pid) if stand_in_pid else 0.0
        wall_before, cpu_before = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        await publish_many(bus, events, posts, config.concurrency)
        if profile is not None:
            profile.disable()
        cpu_used, wall_used = time.process_time() - cpu_before, time.perf_counter() - wall_before
        stand_in_used = (cpu_seconds(stand_in_pid) - stand_in_before) if stand_in_pid else 0.0
    return Sample(
        cpu_us=cpu_used / posts * 1e6,
        stand_in_us=stand_in_used / posts * 1e6,
        posts=posts,
        posts_per_s=posts / wall_used,
    )


def measure_encoding(batch: int, cpu_target: float) -> Sample:
    """CPU of ``batches.split`` alone for one POST's events: our encoding, no HTTP."""
    events = [make_event(n) for n in range(batch)]
    limits = inngest_batches.BatchLimits()
    rounds = max(int(cpu_target / (batch * 2e-6 + 5e-6)), 40)
    before = time.process_time()
    for _ in range(rounds):
        inngest_batches.split([as_encoded(event) for event in events], limits)
    return Sample(
        cpu_us=(time.process_time() - before) / rounds * 1e6, stand_in_us=0.0, posts=rounds, posts_per_s=0
    )


@contextlib.contextmanager
def stand_in_started(workdir: Path) -> Iterator[tuple[Started, str]]:
    command = [sys.executable, str(BENCH_DIR / "stand_in.py")]
    with started(command, {}, workdir / "stand_in.log", stdout_pipe=True) as running:
        port = int(read_ready_line(running, "READY ", timeout=30).split()[1])
        yield running, f"http://127.0.0.1:{port}"


def run_loop(coroutine: Any, loop_name: str) -> Any:
    factory = uvloop.new_event_loop if loop_name == "uvloop" and uvloop is not None else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def print_table(
    results: Results, transports: Sequence[str], batch_sizes: Sequence[int], concurrencies: Sequence[int]
) -> None:
    def median(label: str, attribute: str = "cpu_us") -> str:
        samples = results.samples.get(label)
        if not samples:
            return "-"
        return f"{statistics.median(getattr(s, attribute) for s in samples):,.0f}"

    def spread(label: str) -> str:
        samples = results.samples.get(label)
        if not samples:
            return ""
        values = [s.cpu_us for s in samples]
        return f"{min(values):,.0f}-{max(values):,.0f}"

    print()
    print("CPU of this process per POST, microseconds: median of the rounds (min-max);")
    print("the stand-in's own CPU per POST in the last column (the same server for every transport)")
    print()
    header = f"{'transport':<10} {'batch':>5} {'conc':>4}  {'CPU us/POST':>11}  {'min-max':>13}  {'POST/s':>7}  {'stand-in us':>11}"
    print(header)
    print("-" * len(header))
    for transport in transports:
        for batch in batch_sizes:
            for concurrency in concurrencies:
                label = Config(transport, batch, concurrency).label
                print(
                    f"{transport:<10} {batch:>5} {concurrency:>4}  {median(label):>11}  {spread(label):>13}  "
                    f"{median(label, 'posts_per_s'):>7}  {median(label, 'stand_in_us'):>11}"
                )
    for batch in batch_sizes:
        label = f"encode:{batch}"
        print(f"{'encode':<10} {batch:>5} {'-':>4}  {median(label):>11}  {spread(label):>13}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="measurements of each configuration (default 5)"
    )
    parser.add_argument("--cpu", type=float, default=0.3, help="CPU seconds per measurement (default 0.3)")
    parser.add_argument(
        "--transports",
        default="null,httpx,aiohttp,service",
        help=f"comma-separated, of {', '.join(TRANSPORTS)}",
    )
    parser.add_argument(
        "--batches", default=",".join(map(str, BATCH_SIZES)), help="batch sizes (default 1,70,1000)"
    )
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCIES)), help="(default 1,32)")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (default uvloop, as served)",
    )
    parser.add_argument(
        "--profile", metavar="TRANSPORT:BATCH:CONC", help="profile one configuration with cProfile"
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        help="root log level, as the service's EVENTGATE_LOG_LEVEL; at info httpx logs each request "
        "(JSON lines to /dev/null, as the service formats them; default warning)",
    )
    parser.add_argument("--json", type=Path, help="also write every sample to this JSON file")
    arguments = parser.parse_args(argv)
    transports = [name for name in arguments.transports.split(",") if name]
    unknown = set(transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transport(s): {', '.join(sorted(unknown))}")
    batch_sizes = tuple(int(n) for n in arguments.batches.split(","))
    log_sink = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    handler = logging.StreamHandler(log_sink)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(arguments.log_level.upper())
    concurrencies = tuple(int(n) for n in arguments.concurrency.split(","))

    with (
        tempfile.TemporaryDirectory(prefix="bench-transport-") as workdir,
        stand_in_started(Path(workdir)) as (
            running,
            url,
        ),
    ):
        if arguments.profile:
            transport, batch, concurrency = arguments.profile.split(":")
            profile = cProfile.Profile()
            config = Config(transport, int(batch), int(concurrency))
            sample = run_loop(measure(config, url, running.pid, arguments.cpu, profile), arguments.loop)
            print(
                f"{config.label}: {sample.cpu_us:,.0f} us CPU per POST over {sample.posts} POSTs (under cProfile)"
            )
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(35)
            stats.sort_stats("cumulative").print_stats(45)
            return 0

        results = Results()
        configs = [Config(t, b, c) for t in transports for b in batch_sizes for c in concurrencies]
        for round_number in range(arguments.rounds):
            shift = round_number % len(configs)
            for config in configs[shift:] + configs[:shift]:
                sample = run_loop(measure(config, url, running.pid, arguments.cpu, None), arguments.loop)
                results.add(config.label, sample)
                print(
                    f"round {round_number + 1}: {config.label:<18} {sample.cpu_us:>9,.0f} us/POST "
                    f"({sample.posts} POSTs, stand-in {sample.stand_in_us:,.0f} us)",
                    flush=True,
                )
            for batch in batch_sizes:
                results.add(f"encode:{batch}", measure_encoding(batch, arguments.cpu / 3))
    print_table(results, transports, batch_sizes, concurrencies)
    if arguments.json:
        samples = {label: [asdict(s) for s in taken] for label, taken in results.samples.items()}
        arguments.json.write_text(json.dumps(samples, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
