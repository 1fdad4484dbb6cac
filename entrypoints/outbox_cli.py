"""``eventgate relay`` and ``eventgate outbox ...``: run and inspect the outbox from a shell."""

import argparse
import asyncio
import datetime
import json
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import uvloop

from adapters.sqlite_outbox.store import SqliteOutbox
from entrypoints.app import resolve, settle, start_relay
from entrypoints.command_errors import CommandFailed
from entrypoints.container import Container
from entrypoints.heap import freeze_startup_heap

Command = Callable[[Container, argparse.Namespace, TextIO], Awaitable[int]]


def add_outbox_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    relay = commands.add_parser(
        "relay", help="deliver the outbox's events to the bus until SIGTERM or Ctrl-C"
    )
    relay.set_defaults(outbox_command=run_relay, publishes=True)

    outbox = commands.add_parser("outbox", help="inspect and repair the outbox")
    outbox.set_defaults(publishes=False)
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="pending and dead events, the oldest age, the last error")
    status.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    status.set_defaults(outbox_command=show_status)
    dead = actions.add_parser("dead", help="list dead-lettered events with the bus's reasons")
    dead.add_argument("--limit", type=int, default=100, help="most events to list (default 100)")
    dead.set_defaults(outbox_command=list_dead)
    retry = actions.add_parser("retry", help="send dead-lettered events again, once their cause is fixed")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID", help="event ids to retry")
    which.add_argument("--all", action="store_true", help="retry every dead-lettered event")
    retry.set_defaults(outbox_command=retry_dead)
    purge = actions.add_parser("purge", help="forget delivered events now")
    purge.add_argument("--delivered", action="store_true", required=True, help="purge the delivered events")
    purge.set_defaults(outbox_command=purge_delivered)


def run_outbox_command(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    command: Command = arguments.outbox_command

    async def run() -> int:
        try:
            return await command(container, arguments, out)
        finally:
            await settle(container.shutdown_resources())

    return uvloop.run(run())


async def run_relay(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    await resolve(container.bus)
    await open_outbox_or_fail(container)
    relay = await start_relay(container)
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    print("eventgate relay: delivering; stop with Ctrl-C or SIGTERM", file=out, flush=True)
    await stop.wait()
    await relay.stop(container.config.relay.shutdown_grace())
    return 0


async def show_status(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    status = await (await open_outbox_or_fail(container)).status()
    report = {
        "pending": status.pending,
        "pending_bytes": status.pending_bytes,
        "oldest_pending_age_seconds": status.oldest_pending_age,
        "dead": status.dead,
        "delivered_per_second": round(status.delivered_per_second, 2),
        "last_error": status.last_error,
    }
    if arguments.json:
        print(json.dumps(report), file=out)
        return 0
    oldest = "-" if status.oldest_pending_age is None else f"{status.oldest_pending_age:.1f} s"
    print(f"pending:              {status.pending} ({status.pending_bytes} bytes)", file=out)
    print(f"oldest pending age:   {oldest}", file=out)
    print(f"dead:                 {status.dead}", file=out)
    print(f"delivered per second: {status.delivered_per_second:.2f} (last minute)", file=out)
    print(f"last error:           {status.last_error or '-'}", file=out)
    return 0


async def list_dead(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    for letter in await (await open_outbox_or_fail(container)).dead_letters(arguments.limit):
        failed_at = datetime.datetime.fromtimestamp(letter.failed_at_ms / 1000, datetime.UTC)
        columns = (
            letter.id,
            letter.name,
            f"{failed_at:%Y-%m-%dT%H:%M:%SZ}",
            f"{letter.attempts}",
            letter.reason,
        )
        print("\t".join(columns), file=out)
    return 0


async def retry_dead(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    ids: list[str] = arguments.ids
    revived = await (await open_outbox_or_fail(container)).revive(None if arguments.all else ids)
    print(f"{revived} dead events will be delivered again", file=out)
    if not arguments.all and revived < len(set(ids)):
        print(f"eventgate: {len(set(ids)) - revived} of the ids name no dead event", file=sys.stderr)
        return 1
    return 0


async def purge_delivered(container: Container, arguments: argparse.Namespace, out: TextIO) -> int:
    print(
        f"{await (await open_outbox_or_fail(container)).purge_delivered()} delivered events purged", file=out
    )
    return 0


async def open_outbox_or_fail(container: Container) -> SqliteOutbox:
    """The configured outbox; ``CommandFailed`` with the reason when it cannot be opened."""
    try:
        return await resolve(container.outbox)
    except (OSError, sqlite3.Error) as error:
        raise CommandFailed(f"the outbox cannot be opened: {error}") from None
