"""The ``eventgate`` command: ``eventgate serve`` runs the HTTP service."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from entrypoints.check_config import add_check_config_command
from entrypoints.command_errors import CommandFailed
from entrypoints.container import build_container
from entrypoints.outbox_cli import add_outbox_commands, check_outbox_opens, run_outbox_command
from entrypoints.session_cli import add_session_commands, run_session_command
from entrypoints.settings import ConfigError


def _serve(arguments: argparse.Namespace) -> int:
    container = build_container(os.environ)
    config = container.config
    if config.delivery.mode() == "outbox":
        asyncio.run(check_outbox_opens(container))
    logging.basicConfig(
        level=config.logging.level().upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "entrypoints.asgi:app",
        factory=True,
        host=arguments.host or config.http.host(),
        port=arguments.port or config.http.port(),
        log_config=None,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventgate", description="Record what signed-in users do and hand each event to an event bus."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service (configured by environment variables)")
    serve.add_argument("--host", help="address to listen on (default: EVENTGATE_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: EVENTGATE_PORT, else 8000)")
    serve.set_defaults(run=_serve)
    add_outbox_commands(commands)
    add_session_commands(commands)
    add_check_config_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; configuration errors print one line and exit 2."""
    arguments = build_parser().parse_args(argv)
    try:
        if "session_command" in arguments:
            return run_session_command(os.environ, arguments, sys.stdout)
        if "outbox_command" in arguments:
            container = build_container(os.environ, reads_sessions=False, publishes=arguments.publishes)
            return run_outbox_command(container, arguments, sys.stdout)
        exit_code: int = arguments.run(arguments)
    except ConfigError as error:
        print(f"eventgate: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"eventgate: {error}", file=sys.stderr)
        return 1
    return exit_code


def run() -> None:
    """The console script: exit with ``main``'s code; a reader that went away (``| head``) is no error."""
    try:
        sys.exit(main())
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
