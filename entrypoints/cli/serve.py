"""``eventgate serve``: the HTTP service on uvicorn, configured by environment variables."""

import argparse
import asyncio
import os
import tempfile
from collections.abc import Mapping, MutableMapping

import uvicorn

from adapters.metrics import MULTIPROC_DIR_ENV, reset_multiprocess_dir
from adapters.rate_limit import RedisUnreachable
from entrypoints.cli.errors import CommandFailed
from entrypoints.cli.outbox import open_outbox_or_fail
from entrypoints.composition.container import build_container
from entrypoints.composition.environment import read_settings
from entrypoints.composition.logs import configure_logging
from entrypoints.composition.resolving import resolve, settle
from entrypoints.composition.settings import Settings
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
    asyncio.run(check_resources_open(settings))
    configure_logging(settings.logging.level, settings.logging.format)
    workers = arguments.workers or settings.http.workers
    if workers > 1:
        share_metrics_between_workers(os.environ)
    uvicorn.run(
        "entrypoints.http.asgi:app",
        factory=True,
        host=arguments.host or settings.http.host,
        port=arguments.port or settings.http.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=bool(settings.http.trusted_proxies),
        forwarded_allow_ips=list(settings.http.trusted_proxies) or None,
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


async def check_resources_open(settings: Settings) -> None:
    """Open what the server will open, once, so that a problem stops it with one line, not a traceback."""
    container = build_container(settings)
    try:
        if settings.delivery.mode == "outbox":
            await open_outbox_or_fail(container)
        await resolve(container.rate_policy)
    except RedisUnreachable as error:
        raise CommandFailed(str(error)) from None
    finally:
        await settle(container.shutdown_resources())
