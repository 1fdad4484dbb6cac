"""What the store needs from a database driver, and how a driver's failures are told apart."""

from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, TypeVar

from adapters.nextauth_db.layouts import Dialect

C = TypeVar("C")

Row: TypeAlias = tuple[object, object, object, object, object]
"""A session's ``expires`` and its user's ``id``, ``name``, ``email`` and ``image``, as the driver
decoded them."""

FailureKind: TypeAlias = Literal["unreachable", "refused", "failed"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A database error, classified.

    ``unreachable``: no connection, or it broke. ``refused``: the server answered that this can never
    work as configured (credentials, database, table, column, grant). ``failed``: anything else the
    server answered (too many connections, shutting down, a cancelled statement). ``code`` is the
    SQLSTATE or MySQL error number, ``""`` when there is none; ``detail`` is the driver's message,
    for the logs.
    """

    kind: FailureKind
    code: str
    detail: str


class Driver(Protocol[C]):
    """Opens connections ready to look sessions up, with the lookup already prepared on each."""

    @property
    def dialect(self) -> Dialect: ...

    async def connect(self) -> C:
        """A new connection, read-only, with the lookup prepared on it."""
        ...

    async def lookup(self, connection: C, token: str) -> Row | None:
        """The row for ``token``, or ``None``: one execution of the prepared lookup."""
        ...

    def is_open(self, connection: C) -> bool: ...

    def close(self, connection: C) -> None:
        """Drop the connection now, without waiting for the server."""
        ...

    def classify(self, error: Exception) -> Failure | None:
        """What kind of database failure ``error`` is, or ``None`` when it is none (a bug)."""
        ...
