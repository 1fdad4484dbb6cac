"""The outbox's tables, how an older file is brought up to them, and the pragmas that make it durable
and shareable between processes."""

import sqlite3
import time
from typing import Literal

from adapters.event_json import decode_event, request_fingerprint

SyncMode = Literal["normal", "full"]

SCHEMA_VERSION = 3

JOURNAL_SIZE_LIMIT = 16 << 20
"""Bytes of write-ahead log kept once it starts over, about what it reaches between two checkpoints
under heavy load: a burst, or a checkpoint held back by a long read, may grow the log, and SQLite
would otherwise keep its largest size for good."""

_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05
"""Between two attempts to switch a new file to WAL, doubling from the first: short, since what the
attempts wait for is another process's switch, one small write."""

_TABLES = (
    # The pending and dead events. ``seq`` is the rowid without AUTOINCREMENT: a new row gets one
    # more than the largest rowid in the table, hence more than every row still there, pending ones
    # included, so ``ORDER BY seq`` stays oldest first; only the numbers of rows already deleted
    # from the top may come back. A delivered event leaves this table for ``outbox_delivered``
    # (``mark_delivered``); a row with state 'delivered' here was marked by a schema-2 eventgate
    # still running after the upgrade. ``request_hash`` is kept as long as the event, for the
    # idempotency check (see ``store.py``). It may be NULL only in a row appended by an older
    # eventgate still running after an upgrade: NOT NULL would make its ``INSERT OR IGNORE`` skip
    # the row, and lose the event it acknowledged.
    """CREATE TABLE IF NOT EXISTS outbox (
        seq          INTEGER PRIMARY KEY,
        id           TEXT    NOT NULL UNIQUE,
        request_hash BLOB,
        body         BLOB,
        size         INTEGER NOT NULL,
        state        TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        accepted_at  INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        not_before   INTEGER NOT NULL,
        lease_owner  TEXT,
        lease_until  INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        failed_at    INTEGER,
        finished_at  INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (state, finished_at) WHERE state != 'pending'",
    # The delivered events, kept for the idempotency check until the retention purges them: what a
    # pending row held but its body (kept only with EVENTGATE_OUTBOX_KEEP_DELIVERED). Leaving the
    # wide table empties its pages in the order events were claimed, and new rows reuse them; a row
    # shrunk in place would keep its page (SQLite merges pages only when rows are deleted from them).
    """CREATE TABLE IF NOT EXISTS outbox_delivered (
        seq          INTEGER PRIMARY KEY,
        id           TEXT    NOT NULL UNIQUE,
        request_hash BLOB,
        body         BLOB,
        size         INTEGER NOT NULL,
        accepted_at  INTEGER NOT NULL,
        attempts     INTEGER NOT NULL,
        finished_at  INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_delivered_finished ON outbox_delivered (finished_at)",
    # An id is stored once across both tables: an append of a delivered id is skipped, as the UNIQUE
    # constraint skips one still in ``outbox`` (both inserts are ``INSERT OR IGNORE``).
    """CREATE TRIGGER IF NOT EXISTS outbox_delivered_ids BEFORE INSERT ON outbox
        WHEN EXISTS (SELECT 1 FROM outbox_delivered WHERE id = NEW.id)
        BEGIN SELECT RAISE(IGNORE); END""",
    # One row rewritten by every readiness probe: proof that the file can still be written.
    """CREATE TABLE IF NOT EXISTS outbox_heartbeat (
        singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
        at           INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO outbox_heartbeat VALUES (1, 0)",
    # The undelivered events (pending and dead) and their bytes, for the capacity check; kept by the
    # store, in the transaction of every write that changes them (see ``store.py``).
    """CREATE TABLE IF NOT EXISTS outbox_totals (
        singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
        events       INTEGER NOT NULL,
        bytes        INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO outbox_totals VALUES (1, 0, 0)",
)

_MOVE_DELIVERED = (
    "INSERT INTO outbox_delivered (id, request_hash, body, size, accepted_at, attempts, finished_at)"
    " SELECT id, request_hash, body, size, accepted_at, attempts, finished_at FROM outbox"
    " WHERE state = 'delivered' ORDER BY finished_at, seq",
    "DELETE FROM outbox WHERE state = 'delivered'",
)
"""The delivered events of an older schema, moved to ``outbox_delivered`` (a body kept stays kept)."""

_FROM_VERSION_1 = (
    "DROP TRIGGER outbox_totals_insert",
    "DROP TRIGGER outbox_totals_update",
    "DROP TRIGGER outbox_totals_delete",
    "DROP INDEX outbox_pending",
    "DROP INDEX outbox_finished",
    "ALTER TABLE outbox RENAME TO outbox_version_1",
    *_TABLES,
    "INSERT INTO outbox (seq, id, request_hash, body, size, state, accepted_at, attempts, not_before,"
    " lease_owner, lease_until, last_error, failed_at, finished_at)"
    " SELECT seq, id, eventgate_request_hash(body), body, size, state, accepted_at, attempts, not_before,"
    " lease_owner, lease_until, last_error, failed_at, finished_at FROM outbox_version_1 ORDER BY seq",
    "DROP TABLE outbox_version_1",
    "UPDATE outbox_totals SET (events, bytes) ="
    " (SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE state != 'delivered')",
    *_MOVE_DELIVERED,
)
"""Version 1 had AUTOINCREMENT, triggers keeping the totals, every body for good, and no request hash:
each row is copied, with the hash of the request its body holds, and the totals are counted anew."""

_FROM_VERSION_2 = (*_TABLES, *_MOVE_DELIVERED)
"""Version 2 kept delivered events in ``outbox``, each moved to the table's end without its body."""

_UPGRADES = {0: _TABLES, 1: _FROM_VERSION_1, 2: _FROM_VERSION_2, SCHEMA_VERSION: ()}


def connect(path: str, sync: SyncMode, *, busy_timeout: float = 10.0) -> sqlite3.Connection:
    """Open the outbox in WAL mode, creating its tables or upgrading an older file's; ``sync="full"``
    also survives power loss.

    The log is cut back to ``JOURNAL_SIZE_LIMIT`` each time it starts over (the limit is each
    connection's own, so every connection sets it).

    The connection runs in autocommit mode: every write transaction is opened explicitly with
    ``BEGIN IMMEDIATE`` so that processes sharing the file queue for the write lock instead of
    failing half-way through.
    """
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        _switch_to_wal(connection, busy_timeout)
        connection.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        connection.execute(f"PRAGMA synchronous = {sync.upper()}")
        connection.execute("PRAGMA foreign_keys = ON")
        _refuse_newer(connection)
        _create_or_upgrade(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _switch_to_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, tried again while another connection holds the lock it needs,
    until ``busy_timeout`` has passed.

    On a file not yet in WAL mode (a new one) the switch writes the file's header: it reads first,
    then asks for the write lock with the read lock held, and SQLite answers such an upgrade
    ``SQLITE_BUSY`` at once, without its busy handler (waiting there could deadlock). So, of
    processes creating the file together, all but the one switching it would fail. Each attempt
    here is a transaction of its own, holding no lock once it fails: trying again cannot deadlock,
    and finds the file switched by the other process, or switches it.
    """
    deadline = time.monotonic() + busy_timeout
    pause = _FIRST_PAUSE
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() + pause > deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


def _refuse_newer(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the outbox was written by a newer eventgate (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    return version


def _create_or_upgrade(connection: sqlite3.Connection) -> None:
    """One transaction, holding the write lock: of processes starting together, one upgrades the file
    and the others find it done; a failure leaves the file as it was."""
    connection.create_function("eventgate_request_hash", 1, _request_hash, deterministic=True)
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _refuse_newer(connection)
        for statement in _UPGRADES[version]:
            connection.execute(statement)
        if version != SCHEMA_VERSION:
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _request_hash(body: bytes) -> bytes:
    """The request hash of a version 1 row, from the event its body holds."""
    return request_fingerprint(decode_event(body))
