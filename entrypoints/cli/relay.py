"""``eventgate relay``: deliver the outbox's events to the bus, beside servers that do not."""

import argparse
import asyncio
import logging
import signal
from collections.abc import Mapping

import msgspec
import uvloop

from entrypoints.composition.container import Container, build_container
from entrypoints.composition.environment import ConfigError, read_settings
from entrypoints.composition.heap import tune_collector_after_startup
from entrypoints.composition.lifecycle import shutdown
from entrypoints.composition.logs import configure_logging
from entrypoints.composition.reachability import open_outbox
from entrypoints.composition.resolving import resolve
from entrypoints.composition.startup_checks import check_can_publish

logger = logging.getLogger("eventgate.relay")


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    relay = commands.add_parser(
        "relay", help="deliver the outbox's events to the bus until SIGTERM or Ctrl-C"
    )
    relay.set_defaults(run=run_relay)


def run_relay(arguments: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """A relay runs here whatever ``EVENTGATE_RELAY`` says: that variable is for the servers."""
    settings = read_settings(environ)
    if settings.delivery.mode != "outbox":
        raise ConfigError("EVENTGATE_DELIVERY=direct keeps no outbox for a relay to deliver")
    check_can_publish(settings)
    settings = msgspec.structs.replace(
        settings, relay=msgspec.structs.replace(settings.relay, in_service=True)
    )
    configure_logging(settings.logging.level, settings.logging.format)
    return uvloop.run(relay_until_stopped(build_container(settings)))


async def relay_until_stopped(container: Container) -> int:
    grace = container.settings().relay.shutdown_grace
    try:
        await open_outbox(container)
        await resolve(container.relay)
        tune_collector_after_startup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        logger.info("eventgate relay: delivering; stop with Ctrl-C or SIGTERM")
        await stop.wait()
        logger.info("eventgate relay: stopping, delivering what is due for up to %g s", grace)
    finally:
        await shutdown(container)
    return 0
