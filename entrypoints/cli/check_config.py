"""``eventgate check-config``: every variable, where its value comes from, and whether it all works."""

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import TextIO

from adapters.postgres_outbox.settings import describe_url
from entrypoints.composition.environment import ConfigError, every_variable, read_settings
from entrypoints.composition.reachability import bus_problem, check_reachable
from entrypoints.composition.settings import Settings
from entrypoints.composition.startup_checks import check_can_publish, check_can_serve

HIDDEN = "(set, hidden)"

SESSION_SOURCES = {
    "jwt": "the app's encrypted JWT cookie, decrypted with its secret",
    "database": "the app's database (EVENTGATE_NEXTAUTH_STRATEGY=database): no secret is needed",
    "memory": "one development user (EVENTGATE_SESSION=memory)",
}


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = commands.add_parser(
        "check-config", help="show the configuration (secrets hidden) and check it as `serve` does at start"
    )
    shown = check.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    shown.add_argument(
        "--markdown",
        action="store_true",
        help="print the README's configuration table: each variable's default",
    )
    check.set_defaults(run=run_check_config)


def run_check_config(arguments: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if arguments.markdown:
        print(configuration_table(), file=sys.stdout)
        return 0
    return check_config(environ, as_json=arguments.json, out=sys.stdout)


def outbox_in_use(settings: Settings) -> str | None:
    """The store that keeps accepted events, as safe to show (a PostgreSQL URL's password never is)."""
    if settings.outbox_store == "postgresql":
        postgres = settings.outbox_postgres
        return f"PostgreSQL at {describe_url(postgres.url)}, schema {postgres.schema}"
    if settings.outbox_store == "sqlite":
        return f"SQLite file {settings.outbox.path}"
    return None


def configuration_table() -> str:
    """The README's configuration table, made from the settings tree."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for variable in every_variable():
        default = f"`{variable.default_text}`" if variable.default_text else "(none)"
        lines.append(f"| `{variable.env}` | {default} | {variable.meaning} |")
    return "\n".join(lines)


def describe(environ: Mapping[str, str]) -> list[dict[str, str]]:
    """Each variable with its value as shown (secrets hidden) and its source: environment or default."""
    rows = []
    for variable in every_variable():
        value = environ.get(variable.env, variable.default_text)
        rows.append(
            {
                "variable": variable.env,
                "value": HIDDEN if variable.secret and value else value,
                "source": "environment" if variable.env in environ else "default",
            }
        )
    return rows


def check_config(environ: Mapping[str, str], *, as_json: bool, out: TextIO) -> int:
    """Print the configuration, then check it exactly as ``eventgate serve`` does; 2 when it is wrong.

    That opens the outbox and writes to it, and reaches Redis; the bus is asked too, and what it
    answers is shown, but a bus down now is no reason to refuse the configuration.
    """
    rows = describe(environ)
    bus: str | None = None
    sessions: str | None = None
    outbox: str | None = None
    try:
        settings = read_settings(environ)
        sessions = SESSION_SOURCES[settings.session_source]
        outbox = outbox_in_use(settings)
        check_can_serve(settings)
        check_can_publish(settings)
        asyncio.run(check_reachable(settings))
        bus = asyncio.run(bus_problem(settings)) or "answers"
    except ConfigError as error:
        problem: str | None = str(error)
    else:
        problem = None
    if as_json:
        report = {
            "valid": problem is None,
            "problem": problem,
            "sessions": sessions,
            "outbox": outbox,
            "event_bus": bus,
            "variables": rows,
        }
        print(json.dumps(report), file=out)
    else:
        width = max(len(row["variable"]) for row in rows)
        for row in rows:
            print(f"{row['variable']:<{width}}  {row['value'] or '-'}  ({row['source']})", file=out)
        if sessions is not None:
            print(f"sessions: {sessions}", file=out)
        if outbox is not None:
            print(f"outbox: {outbox}", file=out)
        if bus is not None:
            print(f"event bus: {bus}", file=out)
        print(
            "configuration is valid" if problem is None else f"configuration is NOT valid: {problem}",
            file=out,
        )
    return 0 if problem is None else 2
