"""The original Next.js route, ready to start: ``npm ci`` and ``next build`` here, each only when needed.

``bench/nextjs/`` is a Next.js App Router app with the route eventgate replaces (``app/api/route.js``)
and NextAuth's own endpoints. Installing and building it, only when its inputs changed, is
``build.py``'s, shared with the browser test's app. Imported by ``bench/run.py``, whose folder is on
``sys.path``.
"""

from collections.abc import Mapping
from pathlib import Path

from nextjs import build
from procs import LOOPBACK, BenchError

APP = build.NextjsApp(Path(__file__).resolve().parent, ("next", "next-auth", "inngest", "react", "react-dom"))
Prepared = build.Prepared


class NextjsUnavailable(BenchError):
    """The app cannot be installed, built or started here; the message says why."""


def prepare(log_dir: Path) -> Prepared:
    """Install and build the app if its stamps say so; raise ``NextjsUnavailable`` with the reason."""
    try:
        return APP.prepare(log_dir)
    except build.NextjsUnavailable as error:
        raise NextjsUnavailable(str(error)) from None


def start_command(port: int) -> list[str]:
    """``next start`` of the built app on a loopback port (the last argument, as ``run.py`` expects)."""
    try:
        return APP.start_command(LOOPBACK, port)
    except build.NextjsUnavailable as error:
        raise NextjsUnavailable(str(error)) from None


def environment(base: Mapping[str, str], *, secret: str, bus_url: str, port: int) -> dict[str, str]:
    """The server's environment: ``base`` without anything that configures NextAuth or Inngest, then
    the bench's secret, and the Inngest SDK in production mode sending to ``bus_url`` (loopback).

    The SDK (inngest 3.x, ``components/Inngest.js``) sends to ``INNGEST_EVENT_API_BASE_URL``, else
    ``INNGEST_BASE_URL``, else Inngest Cloud; both are set so that nothing can leave loopback.
    ``INNGEST_DEV=0`` is its explicit production mode, which needs ``INNGEST_EVENT_KEY``.
    """
    env = build.without_app_configuration(base)
    env.update(
        NODE_ENV="production",
        NEXT_TELEMETRY_DISABLED="1",
        NEXTAUTH_SECRET=secret,
        NEXTAUTH_URL=f"http://{LOOPBACK}:{port}",
        INNGEST_DEV="0",
        INNGEST_EVENT_KEY="bench",
        INNGEST_BASE_URL=bus_url,
        INNGEST_EVENT_API_BASE_URL=bus_url,
    )
    return env


def installed_versions() -> dict[str, str | None]:
    """Versions of the app's main packages as installed in ``node_modules``."""
    return APP.installed_versions()
