"""The outbox's tables, and the pragmas that make it durable and shareable between processes."""

import sqlite3
from typing import Literal

SyncMode = Literal["normal", "full"]

SCHEMA_VERSION = 1

JOURNAL_SIZE_LIMIT = 16 << 20
"""Bytes of write-ahead log kept once it starts over, about what it reaches between two checkpoints
under heavy load: a burst, or a checkpoint held back by a long read, may grow the log, and SQLite
would otherwise keep its largest size for good."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    body         BLOB    NOT NULL,
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
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (state, finished_at) WHERE state != 'pending';

-- One row rewritten by every readiness probe: proof that the file can still be written.
CREATE TABLE IF NOT EXISTS outbox_heartbeat (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    at           INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_heartbeat VALUES (1, 0);

-- Undelivered totals kept by triggers, so the capacity check of every write is one row read,
-- and stays right when several processes share the file.
CREATE TABLE IF NOT EXISTS outbox_totals (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    events       INTEGER NOT NULL,
    bytes        INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_totals VALUES (1, 0, 0);

CREATE TRIGGER IF NOT EXISTS outbox_totals_insert AFTER INSERT ON outbox
WHEN NEW.state != 'delivered' BEGIN
    UPDATE outbox_totals SET events = events + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER IF NOT EXISTS outbox_totals_update AFTER UPDATE OF state ON outbox
WHEN (OLD.state = 'delivered') != (NEW.state = 'delivered') BEGIN
    UPDATE outbox_totals SET
        events = events + CASE NEW.state WHEN 'delivered' THEN -1 ELSE 1 END,
        bytes = bytes + CASE NEW.state WHEN 'delivered' THEN -NEW.size ELSE NEW.size END;
END;
CREATE TRIGGER IF NOT EXISTS outbox_totals_delete AFTER DELETE ON outbox
WHEN OLD.state != 'delivered' BEGIN
    UPDATE outbox_totals SET events = events - 1, bytes = bytes - OLD.size;
END;
"""


def connect(path: str, sync: SyncMode, *, busy_timeout: float = 10.0) -> sqlite3.Connection:
    """Open the outbox in WAL mode and create its tables; ``sync="full"`` also survives power loss.

    The log is cut back to ``JOURNAL_SIZE_LIMIT`` each time it starts over (the limit is each
    connection's own, so every connection sets it).

    The connection runs in autocommit mode: every write transaction is opened explicitly with
    ``BEGIN IMMEDIATE`` so that processes sharing the file queue for the write lock instead of
    failing half-way through.
    """
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    connection.execute(f"PRAGMA synchronous = {sync.upper()}")
    connection.execute("PRAGMA foreign_keys = ON")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        connection.close()
        raise sqlite3.DatabaseError(
            f"the outbox was written by a newer eventgate (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    connection.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    return connection
