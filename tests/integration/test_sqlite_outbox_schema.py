"""Opening an outbox file of an older schema upgrades it to the current one, keeping every event."""

import sqlite3
from pathlib import Path

import pytest

from adapters.event_json import as_encoded, encode_event, request_fingerprint
from adapters.sqlite_outbox.schema import SCHEMA_VERSION
from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.errors import EventBusUnavailable, IdempotencyKeyReused
from domain.event import UserEvent
from tests.fakes import ManualMillisecondClock
from tests.sqlite_outbox_rows import EVERY_EVENT

pytestmark = pytest.mark.anyio

# The tables eventgate created up to schema version 1, as they were shipped: a historical fact.
VERSION_1_SCHEMA = """
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


def event(event_id: str, payload: str = "data") -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}, "payload": payload}, id=event_id, ts=7)


def write_version_1_file(path: Path) -> None:
    """What a version 1 eventgate left: two pending events, a dead one and a delivered one."""
    with sqlite3.connect(path) as connection:
        connection.executescript(VERSION_1_SCHEMA + "PRAGMA user_version = 1;")
        for event_id, state, last_error, finished_at in [
            ("pending-1", "pending", "bus down", None),
            ("dead-1", "dead", "refused", 900_000),
            ("delivered-1", "delivered", None, 950_000),
            ("pending-2", "pending", None, None),
        ]:
            body = encode_event(event(event_id))
            connection.execute(
                "INSERT INTO outbox (id, body, size, state, accepted_at, attempts, not_before, last_error,"
                " failed_at, finished_at) VALUES (?, ?, ?, ?, 800000, 1, 800000, ?, ?, ?)",
                (event_id, body, len(body), state, last_error, finished_at, finished_at),
            )
    connection.close()


def read(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(query).fetchall()
    connection.close()
    return rows


async def test_a_version_1_file_is_upgraded_keeping_every_event(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    write_version_1_file(path)
    outbox = SqliteOutboxStore(path, clock_ms=ManualMillisecondClock(), max_events=4)
    await outbox.open()
    try:
        status = await outbox.status()
        [dead] = await outbox.dead_letters()
        claimed = await outbox.claim("relay", 10, 30)
        retried = await outbox.append([event("delivered-1")])
        with pytest.raises(IdempotencyKeyReused):
            await outbox.append([event("dead-1", "other")])
        await outbox.append([event("new-1")])
        with pytest.raises(EventBusUnavailable):
            await outbox.append([event("new-2")])
    finally:
        await outbox.close()

    assert (status.pending, status.dead, status.last_error) == (2, 1, "refused")
    assert (dead.id, dead.reason, dead.attempts) == ("dead-1", "refused", 1)
    assert [(item.event, item.attempts) for item in claimed] == [
        (as_encoded(event("pending-1")), 1),
        (as_encoded(event("pending-2")), 1),
    ]
    assert retried == ["delivered-1"]
    hashes = {row[0]: row[1] for row in read(path, f"SELECT id, request_hash FROM {EVERY_EVENT}")}  # noqa: S608
    assert {
        event_id: hashes[event_id] for event_id in ("pending-1", "dead-1", "delivered-1", "pending-2")
    } == {
        event_id: request_fingerprint(event(event_id))
        for event_id in ("pending-1", "dead-1", "delivered-1", "pending-2")
    }


async def test_the_upgraded_file_has_no_autoincrement_nor_totals_triggers_and_says_its_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    write_version_1_file(path)
    outbox = SqliteOutboxStore(path)
    await outbox.open()
    await outbox.close()

    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert read(
        path, "SELECT name FROM sqlite_master WHERE type = 'trigger' OR name = 'outbox_version_1'"
    ) == [("outbox_delivered_ids",)]
    [(table,)] = read(path, "SELECT sql FROM sqlite_master WHERE name = 'outbox'")
    assert "AUTOINCREMENT" not in str(table)
    assert read(path, "SELECT events, bytes FROM outbox_totals") == read(
        path, "SELECT count(*), sum(size) FROM outbox WHERE state != 'delivered'"
    )


async def test_a_version_1_file_that_cannot_be_upgraded_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    write_version_1_file(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE outbox SET body = x'00' WHERE id = 'pending-2'")
    connection.close()
    before = read(path, "SELECT * FROM outbox ORDER BY seq")

    with pytest.raises(sqlite3.Error):
        await SqliteOutboxStore(path).open()

    assert read(path, "PRAGMA user_version") == [(1,)]
    assert read(path, "SELECT * FROM outbox ORDER BY seq") == before
    assert len(read(path, "SELECT name FROM sqlite_master WHERE type = 'trigger'")) == 3


async def test_a_file_of_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE outbox (anything)")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()

    with pytest.raises(sqlite3.DatabaseError, match="newer eventgate"):
        await SqliteOutboxStore(path).open()

    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


VERSION_1_APPEND = (
    "INSERT OR IGNORE INTO outbox (id, body, size, accepted_at, not_before, lease_owner,"
    " lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
"""How a version 1 eventgate appended, as it was shipped: what one still running after the upgrade does."""


async def test_an_event_appended_by_a_version_1_process_after_the_upgrade_is_kept_and_delivered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutboxStore(path, clock_ms=ManualMillisecondClock())
    await outbox.open()
    try:
        body = encode_event(event("from-version-1"))
        with sqlite3.connect(path) as older:
            older.execute(VERSION_1_APPEND, ("from-version-1", body, len(body), 900_000, 900_000, None, 0))
        older.close()
        retried = await outbox.append([event("from-version-1", "whatever")])
        claimed = await outbox.claim("relay", 10, 30)
    finally:
        await outbox.close()

    assert retried == ["from-version-1"]
    assert [item.event for item in claimed] == [as_encoded(event("from-version-1"))]


# The tables of schema version 2, as they were shipped: a historical fact.
VERSION_2_SCHEMA = """
CREATE TABLE outbox (
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
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE INDEX outbox_finished ON outbox (state, finished_at) WHERE state != 'pending';
CREATE TABLE outbox_heartbeat (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), at INTEGER NOT NULL);
INSERT INTO outbox_heartbeat VALUES (1, 0);
CREATE TABLE outbox_totals (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    events       INTEGER NOT NULL,
    bytes        INTEGER NOT NULL
);
"""

VERSION_2_MARK_DELIVERED = (
    "INSERT OR REPLACE INTO outbox (id, request_hash, body, size, state, accepted_at, attempts,"
    " not_before, finished_at) SELECT id, request_hash, NULL, size, 'delivered',"
    " accepted_at, attempts, not_before, ? FROM outbox WHERE id = ? AND state = 'pending'"
)
"""How a version 2 eventgate marked an event delivered (its totals update aside): what one still
running after the upgrade does."""


def write_version_2_file(path: Path) -> None:
    """What a version 2 eventgate left: a pending event, a dead one, and two delivered ones."""
    with sqlite3.connect(path) as connection:
        connection.executescript(VERSION_2_SCHEMA + "PRAGMA user_version = 2;")
        undelivered = 0
        for event_id, state, finished_at in [
            ("delivered-1", "delivered", 850_000),
            ("dead-1", "dead", 900_000),
            ("delivered-2", "delivered", 950_000),
            ("pending-1", "pending", None),
        ]:
            body = encode_event(event(event_id))
            undelivered += len(body) if state != "delivered" else 0
            connection.execute(
                "INSERT INTO outbox (id, request_hash, body, size, state, accepted_at, attempts, not_before,"
                " last_error, failed_at, finished_at) VALUES (?, ?, ?, ?, ?, 800000, 1, 800000, NULL, NULL, ?)",
                (
                    event_id,
                    request_fingerprint(event(event_id)),
                    None if state == "delivered" else body,
                    len(body),
                    state,
                    finished_at,
                ),
            )
        connection.execute("INSERT INTO outbox_totals VALUES (1, 2, ?)", (undelivered,))
    connection.close()


async def test_a_version_2_file_is_upgraded_moving_its_delivered_events_out_of_the_outbox_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    write_version_2_file(path)
    totals = read(path, "SELECT events, bytes FROM outbox_totals")
    clock = ManualMillisecondClock(1_000_000)
    outbox = SqliteOutboxStore(path, clock_ms=clock, retention_seconds=100)
    await outbox.open()
    try:
        status = await outbox.status()
        retried = await outbox.append([event("delivered-1")])
        with pytest.raises(IdempotencyKeyReused):
            await outbox.append([event("delivered-2", "other")])
        [claimed] = await outbox.claim("relay", 10, 30)
        await outbox.mark_delivered("relay", [claimed.event.id])
        upgraded_totals = read(path, "SELECT events, bytes FROM outbox_totals")
        clock.now_ms = 1_060_000
        forgotten = await outbox._forget_delivered_chunk(960_000, 10)
    finally:
        await outbox.close()

    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert (status.pending, status.dead) == (1, 1)
    assert retried == ["delivered-1"]
    assert claimed.event == as_encoded(event("pending-1"))
    assert read(path, "SELECT id, state FROM outbox") == [("dead-1", "dead")]
    assert read(path, "SELECT id, body, finished_at FROM outbox_delivered ORDER BY seq") == [
        ("pending-1", None, 1_000_000)
    ]
    assert forgotten == 2
    dead_size = len(encode_event(event("dead-1")))
    assert totals == [(2, dead_size + len(encode_event(event("pending-1"))))]
    assert upgraded_totals == [(1, dead_size)]


async def test_an_event_marked_delivered_by_a_version_2_process_after_the_upgrade_is_counted_and_forgotten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    clock = ManualMillisecondClock(1_000_000)
    outbox = SqliteOutboxStore(path, clock_ms=clock, retention_seconds=100)
    await outbox.open()
    try:
        await outbox.append([event("a"), event("b")])
        with sqlite3.connect(path) as older:
            older.execute(VERSION_2_MARK_DELIVERED, (1_000_000, "a"))
        older.close()
        status = await outbox.status()
        retried = await outbox.append([event("a")])
        claimed = await outbox.claim("relay", 10, 30)
        clock.now_ms = 1_200_000
        forgotten = await outbox._forget_delivered_chunk(1_100_000, 10)
        purged = await outbox.purge_delivered()
    finally:
        await outbox.close()

    assert (status.pending, status.delivered_last_minute) == (1, 1)
    assert retried == ["a"]
    assert [item.event.id for item in claimed] == ["b"]
    assert (forgotten, purged) == (1, 0)
