"""The ASGI application factory an ASGI server imports: ``uvicorn --factory entrypoints.asgi:app``."""

import os

from litestar import Litestar

from entrypoints.app import create_app
from entrypoints.container import build_container


def app() -> Litestar:
    """The app configured from this process's environment."""
    return create_app(build_container(os.environ))
