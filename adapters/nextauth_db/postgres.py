"""PostgreSQL through asyncpg: each connection read-only, the lookup prepared on it once."""

import math
import ssl
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement

from adapters.nextauth_db.driver import Failure, Row
from adapters.nextauth_db.layouts import Dialect
from adapters.secret import Secret

SCHEMES = frozenset({"postgresql", "postgres"})

# SQLSTATE classes that no retry can mend: 28 authorization, 3D catalog (database), 3F schema,
# 42 syntax or access rule (an undefined table or column, a missing grant).
_REFUSED_CLASSES = frozenset({"28", "3D", "3F", "42"})
_CONNECTION_CLASS = "08"


class PgConnection(NamedTuple):
    connection: asyncpg.Connection
    lookup: "PreparedStatement[asyncpg.Record]"  # generic only to the type checker


class PostgresDriver:
    """``url`` is a libpq-style URL, which asyncpg reads (``sslmode`` and the rest).

    A Prisma URL's ``?schema=NAME`` is read as Prisma reads it: the tables are looked for in that
    schema (the connection's ``search_path``). The server is asked to make every transaction
    read-only and to end a lookup that runs past ``statement_timeout`` seconds, so that a
    statement given up on here does not run on there.
    """

    def __init__(self, url: Secret, query: str, *, statement_timeout: float) -> None:
        self._dsn, search_path = _without_schema(url.reveal())
        self._query = query
        self._server_settings = {
            "application_name": "eventgate-sessions",
            "default_transaction_read_only": "on",
            "statement_timeout": str(math.ceil(statement_timeout * 1000)),
        }
        if search_path is not None:
            self._server_settings["search_path"] = '"' + search_path.replace('"', '""') + '"'

    @property
    def dialect(self) -> Dialect:
        return "postgresql"

    async def connect(self) -> PgConnection:
        # The caller's deadline bounds the connect; statements are prepared here, so asyncpg's cache is off.
        connection = await asyncpg.connect(
            self._dsn, statement_cache_size=0, server_settings=self._server_settings
        )
        try:
            lookup = await connection.prepare(self._query)
        except BaseException:
            connection.terminate()
            raise
        return PgConnection(connection, lookup)

    async def lookup(self, connection: PgConnection, token: str) -> Row | None:
        record = await connection.lookup.fetchrow(token)
        if record is None:
            return None
        return record[0], record[1], record[2], record[3], record[4]

    def is_open(self, connection: PgConnection) -> bool:
        return not connection.connection.is_closed()

    def close(self, connection: PgConnection) -> None:
        connection.connection.terminate()

    def classify(self, error: Exception) -> Failure | None:
        if isinstance(error, asyncpg.PostgresError):
            code = str(error.sqlstate or "")
            if code[:2] == _CONNECTION_CLASS:
                return Failure("unreachable", code, str(error))
            return Failure("refused" if code[:2] in _REFUSED_CLASSES else "failed", code, str(error))
        if isinstance(error, asyncpg.exceptions.ClientConfigurationError | ssl.SSLCertVerificationError):
            return Failure("refused", "", str(error))
        # InternalClientError: a connection the server ended while it was idle can be left in a state
        # where the next statement fails with it before asyncpg has noticed the connection is gone.
        if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError | OSError):
            return Failure("unreachable", "", str(error))
        return None


def _without_schema(url: str) -> tuple[str, str | None]:
    """The URL without a Prisma ``schema`` parameter, which libpq does not know, and that schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    if not schemas:
        return url, None
    kept = urlencode([(name, value) for name, value in query if name != "schema"])
    return urlunsplit(parts._replace(query=kept)), schemas[-1]
