"""The ASGI application factory an ASGI server imports: ``uvicorn --factory entrypoints.http.asgi:app``."""

import os

from litestar import Litestar

from entrypoints.composition.container import build_container
from entrypoints.composition.environment import read_settings
from entrypoints.composition.logs import configure_logging
from entrypoints.composition.startup_checks import check_can_publish, check_can_serve
from entrypoints.http.app import create_app


def app() -> Litestar:
    """The app configured from this process's environment, logging included.

    Each worker process calls it, and worker processes do not inherit the parent's logging set-up.
    """
    settings = read_settings(os.environ)
    check_can_serve(settings)
    check_can_publish(settings)
    configure_logging(settings.logging.level, settings.logging.format)
    return create_app(build_container(settings), tune_collector_after_start=True)
