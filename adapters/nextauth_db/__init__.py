"""Reads the sessions a Next.js app's NextAuth (v4) or Auth.js (v5) keeps in its adapter's database.

With a database adapter the session cookie holds an opaque token; the session is the row of the
adapter's sessions table with that token, joined to its user. ``DatabaseSession`` is the
``SessionPort`` adapter, built with ``DatabaseSession.from_settings`` and opened and closed as an
async context manager (a container ``Resource``); ``DatabaseSessionSettings`` is its configuration.
PostgreSQL is read through asyncpg, MySQL and MariaDB through asyncmy.
"""

from adapters.nextauth_db.errors import DatabaseSessionConfigError, SessionStoreMisconfigured
from adapters.nextauth_db.layouts import LAYOUTS, Layout
from adapters.nextauth_db.session import DatabaseSession
from adapters.nextauth_db.settings import DatabaseSessionSettings

__all__ = [
    "LAYOUTS",
    "DatabaseSession",
    "DatabaseSessionConfigError",
    "DatabaseSessionSettings",
    "Layout",
    "SessionStoreMisconfigured",
]
