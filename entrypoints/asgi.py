"""The ASGI application factory an ASGI server imports: ``uvicorn --factory entrypoints.asgi:app``."""

import os

from litestar import Litestar

from entrypoints.app import create_app
from entrypoints.container import build_container
from entrypoints.logs import configure_logging


def app() -> Litestar:
    """The app configured from this process's environment, logging included.

    Each worker process calls it, and worker processes do not inherit the parent's logging set-up.
    """
    container = build_container(os.environ)
    configure_logging(container.config.logging.level(), container.config.logging.format())
    return create_app(container, freeze_heap_after_start=True)
