"""The ``eventgate`` command: ``eventgate serve`` runs the HTTP service."""

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import MutableMapping, Sequence

import uvicorn

from adapters.metrics import MULTIPROC_DIR_ENV, reset_multiprocess_dir
from adapters.rate_limit import RedisUnreachable
from entrypoints.app import resolve, settle
from entrypoints.check_config import add_check_config_command
from entrypoints.command_errors import CommandFailed
from entrypoints.container import Container, build_container
from entrypoints.logs import configure_logging
from entrypoints.outbox_cli import add_outbox_commands, open_outbox_or_fail, run_outbox_command
from entrypoints.session_cli import add_session_commands, run_session_command
from entrypoints.settings import ConfigError


def _serve(arguments: argparse.Namespace) -> int:
    container = build_container(os.environ)
    config = container.config
    asyncio.run(check_resources_open(container))
    configure_logging(config.logging.level(), config.logging.format())
    workers = arguments.workers or config.http.workers()
    if workers > 1:
        share_metrics_between_workers(os.environ)
    uvicorn.run(
        "entrypoints.asgi:app",
        factory=True,
        host=arguments.host or config.http.host(),
        port=arguments.port or config.http.port(),
        workers=workers,
        log_config=None,
        access_log=False,
    )
    return 0


def share_metrics_between_workers(environ: MutableMapping[str, str]) -> None:
    """Workers write their metrics to files in one folder, which every worker's /metrics adds up.

    The folder is emptied here, once, before the workers start, so counts begin at zero; it is a
    fresh temporary folder unless ``PROMETHEUS_MULTIPROC_DIR`` names one.
    """
    folder = environ.get(MULTIPROC_DIR_ENV) or tempfile.mkdtemp(prefix="eventgate-metrics-")
    reset_multiprocess_dir(folder)
    environ[MULTIPROC_DIR_ENV] = folder


async def check_resources_open(container: Container) -> None:
    """Open what the server will open, once, so that a problem stops it with one line, not a traceback."""
    try:
        if container.config.delivery.mode() == "outbox":
            await open_outbox_or_fail(container)
        await resolve(container.rate_policy)
    except RedisUnreachable as error:
        raise CommandFailed(str(error)) from None
    finally:
        await settle(container.shutdown_resources())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventgate", description="Record what signed-in users do and hand each event to an event bus."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service (configured by environment variables)")
    serve.add_argument("--host", help="address to listen on (default: EVENTGATE_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: EVENTGATE_PORT, else 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port and the outbox (default: EVENTGATE_WORKERS)",
    )
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
