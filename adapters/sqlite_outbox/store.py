"""``SqliteOutboxStore``: accepted events in one SQLite file, until a relay has delivered them.

``append`` returns only once the events are committed; the relay later claims them with a lease,
hands them to the real bus, and records each outcome. With ``sync="normal"`` the short write
transactions (appends, claims, outcomes) run on the event loop itself (``inline.py``); long ones
(status, purges, the CLI's commands) and, with ``sync="full"``, every write run in the worker thread.

Idempotency, as every outbox of eventgate keeps it. Each row stores ``request_hash``, the 16 bytes of
``request_fingerprint(event)`` (a BLAKE2b hash of the event's name and the client's payload; not the
user's details, not ``ts``), for as long as it stores the row: pending, dead, and delivered until the
retention purges it. An ``append`` compares each event with the row already holding its id, and with
the events before it in the same call:

- same id, same hash: a retry. Nothing is stored for it, and its id is answered as if it had been,
  whatever state the stored event is in (pending, delivered or dead);
- same id, another hash: the key was reused for a different request. The whole call raises
  ``IdempotencyKeyReused``, naming each such id once, in the call's order, and stores nothing, not
  even its other events;
- an id the outbox does not hold (never seen, or purged after the retention): a new event;
- an id whose row has no hash (appended by a schema-1 eventgate still running after the upgrade):
  a retry, whatever the request, as schema 1 took it.

The capacity check comes first and counts every event of the call, retries included: a full outbox
answers ``OutboxUnavailable`` even to a call that would store nothing new.

Delivered events keep no body (``keep_delivered`` keeps them): only what the idempotency check and
``status`` need, and dead events keep theirs, for ``revive``.
"""

import contextlib
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.event_json import decode_event, encode_event, read_encoded, request_fingerprint
from adapters.outbox_retention import RetentionPurges
from adapters.sqlite_outbox.files import make_private
from adapters.sqlite_outbox.inline import InlineWriter, is_busy
from adapters.sqlite_outbox.owners import OwnerLocks, owners_folder
from adapters.sqlite_outbox.schema import SyncMode, connect
from adapters.sqlite_outbox.settings import OutboxSettings
from adapters.sqlite_outbox.worker import SqliteWorker, WorkerStopped
from application.ports import ClaimedEvent, DeadLetter, EncodedEvent, OutboxStatus
from domain.errors import IdempotencyKeyReused, OutboxUnavailable
from domain.event import UserEvent

logger = logging.getLogger(__name__)

FULL_RETRY_AFTER_SECONDS = 5.0
"""What a client is told to wait when the outbox is full or cannot be written."""

_Row = tuple[str, bytes, bytes, int, int, int, str | None, int]
"""``id, request_hash, body, size, accepted_at, not_before, lease_owner, lease_until``."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _HandOff:
    """Events this process accepted, leased at once to its own relay and waiting for it in memory."""

    owner: str
    lease_ms: int
    capacity: int
    waiting: deque[tuple[int, EncodedEvent]]


class SqliteOutboxStore:
    """An outbox in one SQLite file, safe to share between processes on one machine.

    It is the relay's ``OutboxPort``, the ``OutboxAdminPort`` of the CLI and the metrics, and the
    ``HandOffPort`` through which this process's relay gets what this process accepts.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        sync: SyncMode = "normal",
        max_events: int = 1_000_000,
        max_bytes: int = 1 << 30,
        retention_seconds: float = 3600.0,
        keep_delivered: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._path = Path(path)
        self._sync = sync
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._keep_delivered = keep_delivered
        self._clock_ms = clock_ms
        self._purges = RetentionPurges(
            retention_seconds, clock_ms, self._forget_delivered_chunk, (sqlite3.Error, WorkerStopped)
        )
        self._listeners: list[Callable[[], None]] = []
        self._worker: SqliteWorker[list[_Row]] = SqliteWorker(self._connect, self._append_group)
        self._inline: InlineWriter[list[_Row]] | None = None
        if sync == "normal":
            self._inline = InlineWriter(self._connect, self._append_group_inline, self._worker)
        self._writes: InlineWriter[list[_Row]] | SqliteWorker[list[_Row]] = self._inline or self._worker
        self._hand_off: _HandOff | None = None
        self._owners = OwnerLocks(owners_folder(self._path))

    async def open(self) -> None:
        """Create the file (and its folder) if needed; raises ``sqlite3.Error`` or ``OSError`` if unusable."""
        await self._worker.start()
        if self._inline is not None:
            try:
                await self._inline.open()
            except BaseException:
                await self._worker.stop()
                raise

    async def close(self) -> None:
        await self._purges.finish()
        await self.end_hand_off()
        if self._inline is not None:
            await self._inline.close()
        await self._worker.stop()
        self._owners.release_all()

    def hand_off_to(self, owner: str, lease_seconds: float, capacity: int) -> None:
        """Lease what this process accepts to its relay ``owner`` as it is written, and keep it in memory.

        ``claim(owner, ...)`` then takes those events from memory, after the due events of the file:
        no lease to write and nothing to decode per event. Their rows are leased from the start, so
        no other relay takes them meanwhile; if this process dies, the leases run out and any relay
        claims them, as after a crash mid-delivery. At most ``capacity`` events wait in memory (more
        are written unleased, for the file's claims); one that waited half its lease is released to
        them by the next claim and claimed anew, so that a lease never runs out while its delivery
        may still be under way.
        """
        self._hand_off = _HandOff(owner, int(lease_seconds * 1000), capacity, deque())

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` in the event loop after each successful append (the relay's doorbell)."""
        self._listeners.append(listener)

    async def append(self, events: Sequence[UserEvent]) -> list[str]:
        """Store the events durably; raises ``EventBusUnavailable`` when the outbox is full or unwritable,
        ``IdempotencyKeyReused`` when an id comes back with another request (see the module's docstring).

        Either every event of the call is stored or none is. An event whose id is already in the
        outbox with the same request is not stored again: an idempotent retry stays one event.
        """
        now = self._clock_ms()
        hand_off = self._hand_off
        if hand_off is not None and len(hand_off.waiting) + len(events) > hand_off.capacity:
            hand_off = None
        owner, lease_until = (None, 0) if hand_off is None else (hand_off.owner, now + hand_off.lease_ms)
        rows: list[_Row] = [
            (event.id, request_fingerprint(event), body, len(body), now, now, owner, lease_until)
            for event in events
            for body in [encode_event(event)]
        ]
        try:
            inserted = await self._writes.append(rows)
        except WorkerStopped:
            raise OutboxUnavailable("the outbox is closed", FULL_RETRY_AFTER_SECONDS) from None
        if hand_off is not None and inserted == len(events):
            hand_off.waiting.extend(
                (now, EncodedEvent(event.id, event.name, event.ts, row[2]))
                for event, row in zip(events, rows, strict=True)
            )
        elif hand_off is not None and inserted:
            await self._release_leases(hand_off.owner, [event.id for event in events], accepted_at=now)
        for listener in self._listeners:
            listener()
        return [event.id for event in events]

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        lease_ms = int(lease_seconds * 1000)
        hand_off = self._hand_off if self._hand_off is not None and self._hand_off.owner == owner else None
        overdue = [] if hand_off is None else self._overdue_hand_offs(hand_off)

        def claim(connection: sqlite3.Connection) -> list[ClaimedEvent]:
            now = self._clock_ms()
            with _write_transaction(connection):
                if overdue:
                    connection.execute(
                        "UPDATE outbox SET lease_owner = NULL, lease_until = 0"
                        " WHERE id IN (SELECT value FROM json_each(?))"
                        " AND lease_owner = ? AND state = 'pending'",
                        (json.dumps(overdue), owner),
                    )
                rows = connection.execute(
                    "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE seq IN ("
                    " SELECT seq FROM outbox INDEXED BY outbox_pending"
                    " WHERE state = 'pending' AND not_before <= ? AND lease_until <= ? ORDER BY seq LIMIT ?"
                    ") RETURNING seq, body, attempts",
                    (owner, now + lease_ms, now, now, limit),
                ).fetchall()
            rows.sort()
            return [ClaimedEvent(read_encoded(body), attempts) for _, body, attempts in rows]

        claimed = await self._writes.call(claim)
        if hand_off is not None and len(claimed) < limit:
            claimed += self._take_handed_off(hand_off, limit - len(claimed))
        return claimed

    def _overdue_hand_offs(self, hand_off: _HandOff) -> list[str]:
        """Take from memory the events that waited half their lease; the claim gets them from the file.

        Their leases were taken when they were written, and would leave a publish too little time now:
        so they are released in the claim's transaction and claimed with a fresh lease, at once, rather
        than waiting in the file until their first lease ran out (the relay claims nothing while the
        bus is down, and its hand-off waits meanwhile).
        """
        fresh_after = self._clock_ms() - hand_off.lease_ms // 2
        overdue: list[str] = []
        waiting = hand_off.waiting
        while waiting and waiting[0][0] < fresh_after:
            overdue.append(waiting.popleft()[1].id)
        return overdue

    def _take_handed_off(self, hand_off: _HandOff, limit: int) -> list[ClaimedEvent]:
        taken: list[ClaimedEvent] = []
        waiting = hand_off.waiting
        while waiting and len(taken) < limit:
            taken.append(ClaimedEvent(waiting.popleft()[1], 0))
        return taken

    async def end_hand_off(self) -> None:
        """Stop handing off; what still waits in memory becomes claimable by any relay at once."""
        hand_off, self._hand_off = self._hand_off, None
        if hand_off is None or not hand_off.waiting:
            return
        ids = [event.id for _, event in hand_off.waiting]
        hand_off.waiting.clear()
        await self._release_leases(hand_off.owner, ids)

    async def _release_leases(self, owner: str, event_ids: list[str], accepted_at: int | None = None) -> None:
        """Make these events claimable at once (only those accepted at ``accepted_at``, when given).

        Besides at closing, for a publish some of whose ids were stored already: which of its events
        are new is unknown, so none waits in memory, and those it stored go to the file's claims.
        """

        def release(connection: sqlite3.Connection) -> None:
            with _write_transaction(connection):
                connection.execute(
                    "UPDATE outbox SET lease_owner = NULL, lease_until = 0"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND state = 'pending'"
                    " AND (? IS NULL OR accepted_at = ?)",
                    (json.dumps(event_ids), owner, accepted_at, accepted_at),
                )

        with contextlib.suppress(sqlite3.Error, WorkerStopped):  # else the leases run out by themselves
            await self._writes.call(release)

    async def hold_owner(self, owner: str) -> None:
        """Mark ``owner`` alive until ``close`` or this process's death: a lock on a file of its own."""
        await self._worker.call(lambda _: self._owners.hold(owner))

    async def release_dead_owners(self) -> int:
        """Make the pending events of every dead owner claimable at once; returns how many.

        An owner is known dead when its lock file can be locked (``owners.py``). Each one's leases
        are released in a transaction of their own, and only then is its lock file removed: should
        the release fail, the next call finds the owner dead again. Owners without a lock file are
        left to their leases.
        """

        def release(connection: sqlite3.Connection) -> int:
            released = 0
            dead = self._owners.dead_owners()
            try:
                while dead:
                    with _write_transaction(connection):
                        released += connection.execute(
                            "UPDATE outbox SET lease_owner = NULL, lease_until = 0 WHERE seq IN ("
                            " SELECT seq FROM outbox INDEXED BY outbox_pending"
                            " WHERE state = 'pending' AND lease_owner = ?)",
                            (dead[0].name,),
                        ).rowcount
                    self._owners.forget(dead.pop(0))
            finally:
                for owner in dead:
                    self._owners.let_go(owner)
            return released

        return await self._worker.call(release)

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        """Delivered is delivered, whoever holds the lease now: the bus has the event.

        Its row moves to ``outbox_delivered`` without its body (see ``schema.py``): a copy appended
        there, the row deleted here. Rows leaving in the order they were claimed empty whole pages,
        which new rows reuse. The copy's rowids follow the largest, so the bytes the totals lose are
        those of the rowids after the largest before the copy.
        """

        def mark(connection: sqlite3.Connection) -> None:
            now = self._clock_ms()
            ids = json.dumps(list(event_ids))
            with _write_transaction(connection):
                copied = connection.execute(
                    "INSERT INTO outbox_delivered (id, request_hash, body, size, accepted_at, attempts, finished_at)"
                    " SELECT id, request_hash, iif(?, body, NULL), size, accepted_at, attempts, ? FROM outbox"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                    (self._keep_delivered, now, ids),
                )
                moved, last = copied.rowcount, copied.lastrowid
                if moved > 0 and last is not None:
                    connection.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                        (ids,),
                    )
                    connection.execute(
                        "UPDATE outbox_totals SET events = events - ?, bytes = bytes -"
                        " (SELECT coalesce(sum(size), 0) FROM outbox_delivered WHERE seq > ?)",
                        (moved, last - moved),
                    )

        await self._writes.call(mark)
        self._purges.start_when_due()

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        def release(connection: sqlite3.Connection) -> None:
            now = self._clock_ms()
            with _write_transaction(connection):
                connection.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, not_before = ?, lease_owner = NULL,"
                    " lease_until = 0, last_error = ?, failed_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'pending'",
                    [(now + int(delay * 1000), error, now, event_id, owner) for event_id in event_ids],
                )

        await self._writes.call(release)

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        def bury(connection: sqlite3.Connection) -> None:
            now = self._clock_ms()
            with _write_transaction(connection):
                connection.executemany(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, lease_owner = NULL,"
                    " lease_until = 0, last_error = ?, failed_at = ?, finished_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'pending'",
                    [(reason, now, now, event_id, owner) for event_id in event_ids],
                )

        await self._writes.call(bury)

    async def probe(self) -> str | None:
        """Ready when a write commits: a full disk or a read-only volume shows here first."""

        def write(connection: sqlite3.Connection) -> None:
            with _write_transaction(connection):
                connection.execute("UPDATE outbox_heartbeat SET at = ?", (self._clock_ms(),))

        try:
            await self._writes.call(write)
        except (sqlite3.Error, WorkerStopped) as error:
            return f"the outbox cannot be written ({error})"
        return None

    async def status(self) -> OutboxStatus:
        def read(connection: sqlite3.Connection) -> OutboxStatus:
            now = self._clock_ms()
            pending, pending_bytes, oldest = connection.execute(
                "SELECT count(*), coalesce(sum(size), 0), min(accepted_at) FROM outbox"
                " WHERE state = 'pending'"
            ).fetchone()
            (dead,) = connection.execute("SELECT count(*) FROM outbox WHERE state = 'dead'").fetchone()
            (recent,) = connection.execute(
                "SELECT (SELECT count(*) FROM outbox_delivered WHERE finished_at >= ?)"
                " + (SELECT count(*) FROM outbox WHERE state = 'delivered' AND finished_at >= ?)",
                (now - 60_000, now - 60_000),
            ).fetchone()
            last_error = connection.execute(
                "SELECT last_error FROM outbox WHERE state != 'delivered' AND failed_at IS NOT NULL"
                " ORDER BY failed_at DESC LIMIT 1"
            ).fetchone()
            return OutboxStatus(
                pending=pending,
                pending_bytes=pending_bytes,
                oldest_pending_age=None if oldest is None else max(0, now - oldest) / 1000,
                dead=dead,
                delivered_last_minute=recent,
                last_error=None if last_error is None else last_error[0],
            )

        return await self._worker.call(read)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        def read(connection: sqlite3.Connection) -> list[DeadLetter]:
            rows = connection.execute(
                "SELECT id, body, attempts, last_error, failed_at FROM outbox WHERE state = 'dead'"
                " ORDER BY failed_at, seq LIMIT ?",
                (limit,),
            ).fetchall()
            return [
                DeadLetter(
                    id=event_id,
                    name=decode_event(body).name,
                    attempts=attempts,
                    reason=reason,
                    failed_at_ms=at,
                )
                for event_id, body, attempts, reason, at in rows
            ]

        return await self._worker.call(read)

    async def revive(self, event_ids: Sequence[str] | None) -> int:
        """Make dead events (these ids, or all when ``None``) pending again; returns how many."""

        def revive(connection: sqlite3.Connection) -> int:
            now = self._clock_ms()
            reset = (
                "UPDATE outbox SET state = 'pending', attempts = 0, not_before = ?, finished_at = NULL"
                " WHERE state = 'dead'"
            )
            with _write_transaction(connection):
                if event_ids is None:
                    return connection.execute(reset, (now,)).rowcount
                return sum(
                    connection.execute(reset + " AND id = ?", (now, event_id)).rowcount
                    for event_id in event_ids
                )

        return await self._worker.call(revive)

    async def purge_delivered(self) -> int:
        """Forget every delivered event now rather than after the retention period; returns how many."""

        def purge(connection: sqlite3.Connection) -> int:
            with _write_transaction(connection):
                forgotten: int = connection.execute("DELETE FROM outbox_delivered").rowcount
                return forgotten + connection.execute("DELETE FROM outbox WHERE state = 'delivered'").rowcount

        return await self._worker.call(purge)

    async def _forget_delivered_chunk(self, before_ms: int, limit: int) -> int:
        def forget(connection: sqlite3.Connection) -> int:
            with _write_transaction(connection):
                forgotten: int = connection.execute(
                    "DELETE FROM outbox_delivered WHERE seq IN (SELECT seq FROM outbox_delivered"
                    " INDEXED BY outbox_delivered_finished WHERE finished_at < ? LIMIT ?)",
                    (before_ms, limit),
                ).rowcount
                if forgotten < limit:  # rows marked by a schema-2 eventgate (``schema.py``)
                    # ``state != 'pending'`` repeats the partial index's condition, which lets SQLite use it.
                    forgotten += connection.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox INDEXED BY outbox_finished"
                        " WHERE state != 'pending' AND state = 'delivered' AND finished_at < ? LIMIT ?)",
                        (before_ms, limit - forgotten),
                    ).rowcount
                return forgotten

        return await self._worker.call(forget)

    def _connect(self) -> sqlite3.Connection:
        make_private(self._path)
        return connect(str(self._path), self._sync)

    def _append_group_inline(self, connection: sqlite3.Connection, group: list[list[_Row]]) -> list[object]:
        """As ``_append_group``, but a lock held elsewhere escapes, for the thread to wait for it."""
        return self._append_group(connection, group, wait_for_lock=False)

    def _append_group(
        self, connection: sqlite3.Connection, group: list[list[_Row]], *, wait_for_lock: bool = True
    ) -> list[object]:
        """One transaction for every append queued together; a request that does not fit, or reuses an
        idempotency key, is refused alone.

        A request's outcome is how many of its events were new (an id already stored is not stored again).

        The undelivered totals are read once and written once per transaction, rather than by a
        trigger per row: they stay exact when several processes share the file, because every write
        that changes them (an append, a delivery) changes them in its own ``BEGIN IMMEDIATE``
        transaction, which holds the file's only write lock from this read to its commit.
        """
        outcomes: list[object] = []
        try:
            with _write_transaction(connection):
                stored_events, stored_bytes = connection.execute(
                    "SELECT events, bytes FROM outbox_totals"
                ).fetchone()
                events, size = stored_events, stored_bytes
                for rows in group:
                    added = sum(row[3] for row in rows)
                    if events + len(rows) > self._max_events or size + added > self._max_bytes:
                        outcomes.append(
                            OutboxUnavailable(
                                "the outbox is full; the relay is behind or the bus is down",
                                FULL_RETRY_AFTER_SECONDS,
                            )
                        )
                        continue
                    outcome = _insert(connection, rows)
                    if isinstance(outcome, IdempotencyKeyReused):
                        outcomes.append(outcome)
                        continue
                    inserted, inserted_bytes = outcome
                    events, size = events + inserted, size + inserted_bytes
                    outcomes.append(inserted)
                if (events, size) != (stored_events, stored_bytes):
                    connection.execute("UPDATE outbox_totals SET events = ?, bytes = ?", (events, size))
        except sqlite3.Error as error:
            if not wait_for_lock and is_busy(error):
                raise
            failure = OutboxUnavailable(f"the outbox cannot store events ({error})", FULL_RETRY_AFTER_SECONDS)
            return [failure] * len(group)
        return outcomes


def _insert(connection: sqlite3.Connection, rows: list[_Row]) -> tuple[int, int] | IdempotencyKeyReused:
    """Insert one request's new events; returns how many and their bytes, or the reused keys' error.

    When an id was already there (pending, dead or delivered), each event's hash is compared with the hash stored under its id
    (its own, if it was inserted just now: so two events of one request are compared too). On a
    mismatch the request's new rows are deleted again: they are the rows above the largest ``seq``
    before it, since a rowid without AUTOINCREMENT is one more than the largest, and this
    transaction holds the write lock.
    """
    inserted: int = connection.executemany(
        "INSERT OR IGNORE INTO outbox (id, request_hash, body, size, accepted_at, not_before, lease_owner,"
        " lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    ).rowcount
    if inserted == len(rows):
        return inserted, sum(row[3] for row in rows)
    stored = dict(
        connection.execute(
            "SELECT id, request_hash FROM outbox WHERE id IN (SELECT value FROM json_each(?1)) UNION ALL"
            " SELECT id, request_hash FROM outbox_delivered WHERE id IN (SELECT value FROM json_each(?1))",
            (json.dumps([row[0] for row in rows]),),
        ).fetchall()
    )
    reused = [event_id for event_id, request_hash, *_ in rows if stored[event_id] not in (None, request_hash)]
    if not inserted:
        return IdempotencyKeyReused(list(dict.fromkeys(reused))) if reused else (0, 0)
    (last,) = connection.execute("SELECT last_insert_rowid()").fetchone()
    first_new = last - inserted + 1
    if reused:
        connection.execute("DELETE FROM outbox WHERE seq >= ?", (first_new,))
        return IdempotencyKeyReused(list(dict.fromkeys(reused)))
    (inserted_bytes,) = connection.execute(
        "SELECT coalesce(sum(size), 0) FROM outbox WHERE seq >= ?", (first_new,)
    ).fetchone()
    return inserted, inserted_bytes


@contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` when anything in between, or the commit, fails."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


async def open_outbox_store(settings: OutboxSettings) -> AsyncIterator[SqliteOutboxStore]:
    """The outbox as a container resource: opened at start, closed (after queued writes) at shutdown."""
    store = SqliteOutboxStore(
        settings.path,
        sync=settings.sync,
        max_events=settings.max_events,
        max_bytes=settings.max_bytes,
        retention_seconds=settings.retention_seconds,
        keep_delivered=settings.keep_delivered,
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()
