"""``eventgate serve``: the HTTP service on uvicorn, configured by environment variables."""

import argparse
import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

import uvicorn

from adapters.metrics import MULTIPROC_DIR_ENV, reset_multiprocess_dir
from entrypoints.cli.server_limits import ServerLimitsError, ensure_file_descriptors, uvicorn_options
from entrypoints.composition.environment import ConfigError, read_settings
from entrypoints.composition.logs import configure_logging
from entrypoints.composition.reachability import check_reachable
from entrypoints.composition.startup_checks import check_can_publish, check_can_serve


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    serve = commands.add_parser("serve", help="run the HTTP service (configured by environment variables)")
    serve.add_argument("--host", help="address to listen on (default: EVENTGATE_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: EVENTGATE_PORT, else 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port and the outbox (default: EVENTGATE_WORKERS)",
    )
    serve.set_defaults(run=run_serve)


def run_serve(arguments: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = read_settings(environ)
    check_can_serve(settings)
    check_can_publish(settings)
    workers = settings.http.workers if arguments.workers is None else arguments.workers
    if workers < 1:
        raise ConfigError(f"--workers {workers} is not valid: must be a positive whole number")
    host = arguments.host or settings.http.host
    port = arguments.port or settings.http.port
    check_port_free(host, port)
    asyncio.run(check_reachable(settings))
    try:
        ensure_file_descriptors(settings.server)
    except ServerLimitsError as error:
        raise ConfigError(str(error)) from None
    configure_logging(settings.logging.level, settings.logging.format)
    with metrics_shared_between(workers, os.environ):
        uvicorn.run(
            "entrypoints.http.asgi:app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            proxy_headers=bool(settings.http.trusted_proxies),
            forwarded_allow_ips=list(settings.http.trusted_proxies) or None,
            **uvicorn_options(settings.server),
        )
    return 0


def check_port_free(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will, so that a taken port stops the start with one line."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise ConfigError(
            f"EVENTGATE_HOST={host!r}, EVENTGATE_PORT={port} cannot be listened on: {error.strerror or error}"
        ) from None


@contextmanager
def metrics_shared_between(workers: int, environ: MutableMapping[str, str]) -> Iterator[None]:
    """With several workers, each writes its metrics to files in one folder, which every worker's
    /metrics adds up.

    The folder is emptied here, once, before the workers start, so counts begin at zero. It is a
    fresh temporary folder, removed again at shutdown, unless ``PROMETHEUS_MULTIPROC_DIR`` names one.
    """
    if workers == 1:
        yield
        return
    named = environ.get(MULTIPROC_DIR_ENV)
    folder = named or tempfile.mkdtemp(prefix="eventgate-metrics-")
    reset_multiprocess_dir(folder)
    environ[MULTIPROC_DIR_ENV] = folder
    try:
        yield
    finally:
        if not named:
            shutil.rmtree(folder, ignore_errors=True)
