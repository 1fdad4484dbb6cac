"""``eventgate outbox ...``: inspect and repair the outbox from a shell."""

import argparse
import datetime
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TextIO

import uvloop

from application.ports import OutboxAdminPort
from entrypoints.composition.container import build_container
from entrypoints.composition.environment import read_settings
from entrypoints.composition.lifecycle import shutdown
from entrypoints.composition.reachability import open_outbox

Action = Callable[[OutboxAdminPort, argparse.Namespace, TextIO], Awaitable[int]]


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    outbox = commands.add_parser("outbox", help="inspect and repair the outbox")
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="pending and dead events, the oldest age, the last error")
    status.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    status.set_defaults(run=run_outbox_command, action_run=show_status)
    dead = actions.add_parser("dead", help="list dead-lettered events with the bus's reasons")
    dead.add_argument("--limit", type=int, default=100, help="most events to list (default 100)")
    dead.set_defaults(run=run_outbox_command, action_run=list_dead)
    retry = actions.add_parser("retry", help="send dead-lettered events again, once their cause is fixed")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID", help="event ids to retry")
    which.add_argument("--all", action="store_true", help="retry every dead-lettered event")
    retry.set_defaults(run=run_outbox_command, action_run=retry_dead)
    purge = actions.add_parser("purge", help="forget delivered events now")
    purge.add_argument("--delivered", action="store_true", required=True, help="purge the delivered events")
    purge.set_defaults(run=run_outbox_command, action_run=purge_delivered)
    migrate = actions.add_parser(
        "migrate",
        help="create or update the outbox's tables, for deployments that migrate as a separate step",
    )
    migrate.set_defaults(run=run_outbox_command, action_run=report_migrated)


def run_outbox_command(arguments: argparse.Namespace, environ: Mapping[str, str]) -> int:
    container = build_container(read_settings(environ))
    action: Action = arguments.action_run

    async def run() -> int:
        try:
            return await action(await open_outbox(container), arguments, sys.stdout)
        finally:
            await shutdown(container)

    return uvloop.run(run())


async def show_status(outbox: OutboxAdminPort, arguments: argparse.Namespace, out: TextIO) -> int:
    status = await outbox.status()
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


async def list_dead(outbox: OutboxAdminPort, arguments: argparse.Namespace, out: TextIO) -> int:
    for letter in await outbox.dead_letters(arguments.limit):
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


async def retry_dead(outbox: OutboxAdminPort, arguments: argparse.Namespace, out: TextIO) -> int:
    ids: list[str] = arguments.ids
    revived = await outbox.revive(None if arguments.all else ids)
    print(f"{revived} dead events will be delivered again", file=out)
    if not arguments.all and revived < len(set(ids)):
        print(f"eventgate: {len(set(ids)) - revived} of the ids name no dead event", file=sys.stderr)
        return 1
    return 0


async def purge_delivered(outbox: OutboxAdminPort, arguments: argparse.Namespace, out: TextIO) -> int:
    print(f"{await outbox.purge_delivered()} delivered events purged", file=out)
    return 0


async def report_migrated(outbox: OutboxAdminPort, arguments: argparse.Namespace, out: TextIO) -> int:
    """Opening the outbox brought its tables up to date; say so once it can also be read."""
    status = await outbox.status()
    print(f"the outbox's tables are up to date ({status.pending} events pending)", file=out)
    return 0
