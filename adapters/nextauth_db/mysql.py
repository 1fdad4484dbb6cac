"""MySQL and MariaDB through asyncmy: each connection read-only, the lookup a server-side prepared
statement on it, executed in the binary protocol.

Dates are read as the app's driver reads them. ``DATETIME`` (Prisma) holds the UTC time Prisma
wrote; ``TIMESTAMP`` (Drizzle) comes back in the connection's time zone, which is left at the
server's default, as Drizzle leaves it, so the text Drizzle wrote in UTC comes back as written.
Either way the naive ``datetime`` is UTC.
"""

import ssl
from typing import Any, NamedTuple, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncmy
import asyncmy.errors

from adapters.nextauth_db.driver import Failure, Row
from adapters.nextauth_db.errors import DatabaseSessionConfigError
from adapters.nextauth_db.layouts import Dialect
from adapters.secret import Secret

SCHEMES = frozenset({"mysql", "mariadb"})
DEFAULT_PORT = 3306

# Server errors no retry can mend: access denied (1044, 1045, 1142, 1143, 1227, 1698), an unknown
# database, table or column (1049, 1146, 1054), SQL the server cannot read (1064), an authentication
# method the client lacks (1251).
_REFUSED = frozenset({1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146, 1227, 1251, 1698})
_FIRST_CLIENT_ERROR, _LAST_CLIENT_ERROR = 2000, 2999
"""Errors of the client itself: the connection could not be made, or was lost."""


class _Result(Protocol):
    rows: tuple[tuple[Any, ...], ...]


class _PreparedStatement(Protocol):
    async def execute(self, args: tuple[object, ...] = ()) -> _Result: ...


class MyConnection(NamedTuple):
    connection: asyncmy.Connection
    lookup: _PreparedStatement


class MySqlDriver:
    """``url`` is ``mysql://user:password@host:port/database``, with ``?sslmode=`` ``disable`` (the
    default), ``require`` (encrypted, unverified), ``verify-ca`` or ``verify-full``, and
    ``sslrootcert=<file>`` for a private certificate authority."""

    def __init__(self, url: Secret, query: str) -> None:
        self._arguments = connect_arguments(url)
        self._query = query

    @property
    def dialect(self) -> Dialect:
        return "mysql"

    async def connect(self) -> MyConnection:
        connection: asyncmy.Connection = await asyncmy.connect(**self._arguments)
        try:
            lookup = cast(_PreparedStatement, await connection.prepare(self._query))  # type: ignore[no-untyped-call]
        except BaseException:
            connection.close()
            raise
        return MyConnection(connection, lookup)

    async def lookup(self, connection: MyConnection, token: str) -> Row | None:
        rows = (await connection.lookup.execute((token,))).rows
        if not rows:
            return None
        row = rows[0]
        return row[0], row[1], row[2], row[3], row[4]

    def is_open(self, connection: MyConnection) -> bool:
        # asyncmy's own pool asks the same: has the server closed the stream, or did it break?
        return bool(connection.connection.connected) and not getattr(
            connection.connection, "_stream_broken", False
        )

    def close(self, connection: MyConnection) -> None:
        connection.connection.close()

    def classify(self, error: Exception) -> Failure | None:
        if isinstance(error, asyncmy.errors.MySQLError):
            number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
            detail = str(error.args[1]) if len(error.args) > 1 else str(error)
            if isinstance(error, asyncmy.errors.InterfaceError) or (
                _FIRST_CLIENT_ERROR <= number <= _LAST_CLIENT_ERROR
            ):
                return Failure("unreachable", str(number or ""), detail)
            return Failure("refused" if number in _REFUSED else "failed", str(number or ""), detail)
        if isinstance(error, ssl.SSLCertVerificationError):
            return Failure("refused", "", str(error))
        if isinstance(error, OSError):
            return Failure("unreachable", "", str(error))
        return None


def connect_arguments(url: Secret) -> dict[str, Any]:
    """asyncmy's ``connect`` arguments for the URL; ``DatabaseSessionConfigError`` if it cannot be one."""
    parts = urlsplit(url.reveal())
    if not parts.hostname:
        raise DatabaseSessionConfigError("EVENTGATE_NEXTAUTH_DATABASE_URL names no host")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise DatabaseSessionConfigError(
            "EVENTGATE_NEXTAUTH_DATABASE_URL has a port that is no port"
        ) from None
    parameters = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(parameters) - {"sslmode", "sslrootcert"})
    if unknown:
        raise DatabaseSessionConfigError(
            f"EVENTGATE_NEXTAUTH_DATABASE_URL: unknown parameter(s) {', '.join(unknown)}; a mysql:// URL "
            "takes sslmode and sslrootcert"
        )
    return {
        "host": parts.hostname,
        "port": port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.removeprefix("/")) or None,
        "ssl": _tls(parameters.get("sslmode", "disable"), parameters.get("sslrootcert")),
        "charset": "utf8mb4",
        "autocommit": True,
        "init_command": "SET SESSION TRANSACTION READ ONLY",
    }


def _tls(mode: str, root_certificate: str | None) -> ssl.SSLContext | None:
    if mode == "disable":
        return None
    if mode not in {"require", "verify-ca", "verify-full"}:
        raise DatabaseSessionConfigError(
            "EVENTGATE_NEXTAUTH_DATABASE_URL: sslmode must be disable, require, verify-ca or verify-full"
        )
    context = ssl.create_default_context(cafile=root_certificate)
    if mode != "verify-full":
        context.check_hostname = False
    if mode == "require":
        context.verify_mode = ssl.CERT_NONE
    return context
