"""The ``eventgate`` command: one subcommand per door into the service, each in its own module."""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from entrypoints.cli import check_config, outbox, relay, serve, session
from entrypoints.cli.errors import CommandFailed
from entrypoints.composition.environment import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventgate", description="Record what signed-in users do and hand each event to an event bus."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (serve, relay, outbox, session, check_config):
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """Run a command; a configuration error prints one line and exits 2, a failed command exits 1."""
    arguments = build_parser().parse_args(argv)
    try:
        exit_code: int = arguments.run(arguments, environ)
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
