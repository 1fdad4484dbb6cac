"""The bare-framework ceiling: one Litestar ``POST /api`` that only decodes the body and answers.

It decodes the body with msgspec into the same shape eventgate accepts and answers
``{"success": "true"}``: no session, no event, no outbox. It runs on uvicorn exactly as
``eventgate serve`` runs the service (``entrypoints/cli/serve.py``): ``uvicorn.run`` with its defaults
(uvloop, httptools, the access logger) after ``logging.basicConfig`` at warning level, and
``log_config=None``. If ``eventgate serve`` changes its uvicorn settings, change them here too, or
the ratios stop comparing like with like. ``--workers N`` runs N uvicorn workers on the port, as
``eventgate serve --workers N`` does.

Run: ``.venv/bin/python bench/ceiling_app.py --port 8001 [--workers 2]``.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, post

LOOPBACK = "127.0.0.1"


class Body(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The body eventgate accepts: an optional event name and data of any JSON shape."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    data: Any = msgspec.UNSET


class Answer(msgspec.Struct, frozen=True):
    success: str = "true"


_decoder = msgspec.json.Decoder(Body)


@post("/api", status_code=200)
async def record(request: Request[Any, Any, Any]) -> Answer:
    _decoder.decode(await request.body())
    return Answer()


def create_app() -> Litestar:
    return Litestar(route_handlers=[record], logging_config=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the bare Litestar ceiling for the benchmark")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "ceiling_app:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=LOOPBACK,
        port=arguments.port,
        workers=arguments.workers,
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
