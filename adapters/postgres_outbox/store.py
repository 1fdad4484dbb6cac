"""``PostgresOutboxStore``: accepted events in a PostgreSQL database that many instances share.

``append`` returns only once its events are committed (with ``synchronous_commit`` as the server
has it). Appends that arrive while a write waits for a connection join it: the write takes every
append queued when its connection comes, and stores them with one multi-row ``INSERT`` in one
transaction (group commit). Relays on any number of machines claim with ``FOR UPDATE SKIP
LOCKED`` and a lease. Each owner holds an advisory lock on the store's own connection while it
lives, so a relay releases at once the leases of an owner whose lock it can take.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from adapters.event_json import encode_event, read_encoded, request_fingerprint
from adapters.outbox_retention import RetentionPurges
from adapters.postgres_outbox.schema import TOTALS_SLOTS, lock_key, migrate
from adapters.postgres_outbox.session import OwnerSession
from adapters.postgres_outbox.settings import PostgresOutboxSettings
from application.ports import ClaimedEvent, DeadLetter, EncodedEvent, OutboxStatus
from domain.errors import IdempotencyKeyReused, OutboxUnavailable
from domain.event import UserEvent

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0
"""What a client is told to wait when the outbox is full or cannot be written."""

DATABASE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)
"""What a statement raises when the database is down, read-only, out of connections or too slow, or
when its connection broke under it."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def claimed_event(body: bytes, attempts: int) -> ClaimedEvent:
    """The one place a stored body becomes what a claim hands the relay."""
    return ClaimedEvent(event=read_encoded(body), attempts=attempts)


STILL_PENDING = "state || '' = 'pending'"
"""``state = 'pending'`` for statements that find their rows by id, written so that the planner cannot
match it with the partial index ``outbox_pending``. Statistics taken while few events were pending make
that index look like it holds a row or two; a relay draining a backlog then walked every pending row
for each batch it marked, instead of looking its ids up in the unique index on ``id``.
"""


PLANNER_SETTINGS = {"enable_bitmapscan": "off", "plan_cache_mode": "force_custom_plan"}
"""Planner settings of the store's connections. A claim must walk the partial index ``outbox_pending`` in
``seq`` order and stop after its batch; with statistics taken while few events were pending (or none
taken yet, as after a backlog built up in a new table) the planner preferred a bitmap scan of every
pending row, sorted, for each batch: most of a second per claim at a 200,000-event backlog. None of the
store's statements is better served by a bitmap scan.

Each statement is planned for the table as it is when it runs: a prepared statement run five times on
a connection may otherwise be kept as one generic plan, made for the table as it was then. Made on a
new outbox, the lookup of an append's ids read every row of the table for each append until the first
statistics were taken, and a new deployment ran at a third of its speed. The price is planning every
statement each time it runs, on the database's CPU (the bench shows it). ``enable_seqscan = off``
would keep that plan from the table too, but its disabling cost pushes every statement past
``jit_above_cost``, and JIT compiling took tens of milliseconds a statement."""

Place = tuple[int, int]
"""A row version's ``ctid`` (block, offset), as asyncpg gives it."""


@dataclass(slots=True)
class _Append:
    """One call's events, encoded, and the future its caller awaits."""

    events: Sequence[UserEvent]
    ids: list[str]
    hashes: list[bytes]
    bodies: list[bytes]
    future: "asyncio.Future[None]"


@dataclass(slots=True)
class _HandOff:
    """Events this process accepted, leased at once to its own relay and waiting for it in memory."""

    owner: str
    lease_ms: int
    capacity: int
    waiting: deque[tuple[int, EncodedEvent, Place]]


class PostgresOutboxStore:
    """An outbox in a PostgreSQL schema: the relay's ``OutboxPort``, the ``OutboxAdminPort`` of the CLI
    and the metrics, and the ``HandOffPort`` through which this process's relay gets what this process
    accepts (its doorbell also rings for other instances' appends, by NOTIFY)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "eventgate",
        pool_size: int = 8,
        timeout: float = 2.0,
        listen: bool = True,
        max_events: int = 1_000_000,
        max_bytes: int = 1 << 30,
        retention_seconds: float = 3600.0,
        keep_delivered: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._url = url
        self._schema = schema
        self._pool_size = pool_size
        self._timeout = timeout
        self._listen = listen
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._keep_delivered = keep_delivered
        self._clock_ms = clock_ms
        self._channel = f"{schema}.outbox"
        self._pool: asyncpg.Pool | None = None
        self._session: OwnerSession | None = None
        self._listeners: list[Callable[[], None]] = []
        self._queued: list[_Append] = []
        self._writer_waiting = False
        self._writes: set[asyncio.Task[None]] = set()
        self._notify: asyncio.Task[None] | None = None
        self._notify_again = False
        self._hand_off: _HandOff | None = None
        self._slots = itertools.cycle(range(TOTALS_SLOTS))
        self._places: dict[str, dict[str, Place]] = {}
        self._purges = RetentionPurges(
            retention_seconds, clock_ms, self._forget_delivered_chunk, (*DATABASE_ERRORS, OutboxUnavailable)
        )
        s = schema
        self._sql_existing = (
            f"SELECT (SELECT coalesce(sum(events), 0) FROM {s}.outbox_totals),"
            f" (SELECT coalesce(sum(bytes), 0) FROM {s}.outbox_totals),"
            f" array(SELECT id FROM {s}.outbox WHERE id = ANY($1::text[]) ORDER BY id),"
            f" array(SELECT request_hash FROM {s}.outbox WHERE id = ANY($1::text[]) ORDER BY id)"
        )
        self._sql_insert = (
            f"WITH added AS (INSERT INTO {s}.outbox"
            " (id, request_hash, body, size, accepted_at, not_before, lease_owner, lease_until)"
            " SELECT id, hash, body, length(body), $4, $4, CASE WHEN leased THEN $6::text END,"
            " CASE WHEN leased THEN $7::bigint ELSE 0 END"
            " FROM unnest($1::text[], $2::bytea[], $3::bytea[], $8::boolean[]) AS input(id, hash, body, leased)"
            " ON CONFLICT (id) DO NOTHING RETURNING id, size, ctid),"
            f" counted AS (UPDATE {s}.outbox_totals SET events = events + (SELECT count(*) FROM added),"
            " bytes = bytes + (SELECT coalesce(sum(size), 0) FROM added) WHERE slot = $5)"
            " SELECT id, ctid FROM added"
        )
        self._sql_claim = (
            f"UPDATE {s}.outbox AS o SET lease_owner = $1, lease_until = $2 FROM ("
            f" SELECT ctid FROM {s}.outbox WHERE state = 'pending' AND not_before <= $3 AND lease_until <= $3"
            " ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) AS due"
            " WHERE o.ctid = due.ctid RETURNING o.seq, o.id, o.ctid, o.body, o.attempts"
        )
        self._sql_delivered_in_place = (
            f"WITH done AS (UPDATE {s}.outbox AS o SET state = 'delivered', finished_at = $3,"
            " lease_owner = NULL, lease_until = 0, body = CASE WHEN $4 THEN o.body END"
            " FROM unnest($1::tid[], $2::text[]) AS marked(place, id)"
            f" WHERE o.ctid = marked.place AND o.id = marked.id AND {STILL_PENDING} RETURNING o.size),"
            f" counted AS (UPDATE {s}.outbox_totals SET events = events - (SELECT count(*) FROM done),"
            " bytes = bytes - (SELECT coalesce(sum(size), 0) FROM done) WHERE slot = $5)"
            " SELECT count(*) FROM done"
        )
        self._sql_delivered = (
            f"WITH done AS (UPDATE {s}.outbox SET state = 'delivered', finished_at = $2, lease_owner = NULL,"
            " lease_until = 0, body = CASE WHEN $3 THEN body END"
            f" WHERE id = ANY($1::text[]) AND {STILL_PENDING} RETURNING size)"
            f" UPDATE {s}.outbox_totals SET events = events - (SELECT count(*) FROM done),"
            " bytes = bytes - (SELECT coalesce(sum(size), 0) FROM done) WHERE slot = $4"
        )

    async def open(self) -> None:
        """Migrate the schema, open the pool and, unless behind a transaction pooler, the owner session.

        Raises what connecting raises (``OSError``, ``asyncpg`` errors, ``TimeoutError``).
        """
        connection = await self._connect()
        try:
            await migrate(connection, self._schema)
        finally:
            await connection.close()
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=0,
            max_size=self._pool_size,
            statement_cache_size=100 if self._listen else 0,
            server_settings={"application_name": "eventgate-outbox", **PLANNER_SETTINGS},
            reset=_keep_session,
        )
        if self._listen:
            self._session = OwnerSession(
                self._connect, schema=self._schema, channel=self._channel, on_notify=self._ring
            )
            try:
                await self._session.open()
            except BaseException:
                await self._pool.close()
                raise

    async def close(self) -> None:
        """Finish the queued appends, free what waits for this process's relay, then close the owner
        session (its locks go) and the pool."""
        while self._queued or self._writes:
            if self._queued and not self._writer_waiting:
                self._start_writer()
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._notify is not None:
            await asyncio.gather(self._notify, return_exceptions=True)
        await self._purges.finish()
        await self.end_hand_off()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.wait_for(pool.close(), self._timeout)

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._url,
            timeout=self._timeout,
            statement_cache_size=0,
            server_settings={"application_name": "eventgate-outbox", **PLANNER_SETTINGS},
        )

    # HandOffPort

    def hand_off_to(self, owner: str, lease_seconds: float, capacity: int) -> None:
        """Lease what this process accepts to its relay ``owner`` as it is written, and keep it in memory.

        As the SQLite store does: ``claim(owner, ...)`` then takes those events from memory, after the
        due events of the database, with no claim to write and nothing to read back. Every instance's
        relay delivers what its instance accepted, so the load balancer spreads the deliveries too. If
        this process dies, its owner lock goes with it and another relay releases the leases at once.
        At most ``capacity`` events wait in memory (more are written unleased, for any relay's claims);
        one that waited half its lease is released by the next claim and claimed anew.
        """
        self._hand_off = _HandOff(owner, int(lease_seconds * 1000), capacity, deque())

    async def end_hand_off(self) -> None:
        """Stop handing off; what still waits in memory becomes claimable by any relay at once."""
        hand_off, self._hand_off = self._hand_off, None
        if hand_off is None or not hand_off.waiting:
            return
        ids = [event.id for _, event, _ in hand_off.waiting]
        hand_off.waiting.clear()
        # Should the database not answer, the leases run out by themselves.
        with contextlib.suppress(*DATABASE_ERRORS, OutboxUnavailable):
            await self._release(hand_off.owner, ids)

    async def _release(self, owner: str, event_ids: list[str]) -> None:
        await self._open_pool().execute(
            f"UPDATE {self._schema}.outbox SET lease_owner = NULL, lease_until = 0"
            f" WHERE id = ANY($1::text[]) AND lease_owner = $2 AND {STILL_PENDING}",
            event_ids,
            owner,
        )

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each append of this process, and on each NOTIFY of another's."""
        self._listeners.append(listener)

    def _ring(self) -> None:
        for listener in self._listeners:
            listener()

    # Accepting

    async def append(self, events: Sequence[UserEvent]) -> list[str]:
        """Store the events durably; ``OutboxUnavailable`` when the outbox is full or cannot be written.

        Either every event of the call is stored or none is. An id already stored with the same request
        is an idempotent retry (stored once); with another, ``IdempotencyKeyReused``.
        """
        if self._pool is None:
            raise OutboxUnavailable("the outbox is closed", RETRY_AFTER_SECONDS)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(
            _Append(
                events,
                [event.id for event in events],
                [request_fingerprint(event) for event in events],
                [encode_event(event) for event in events],
                future,
            )
        )
        if not self._writer_waiting:
            self._start_writer()
        await asyncio.shield(future)
        self._ring()
        return [event.id for event in events]

    def _start_writer(self) -> None:
        self._writer_waiting = True
        task = asyncio.get_running_loop().create_task(self._write_queued())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_queued(self) -> None:
        """Wait for a connection, then store every append queued by then in one transaction."""
        pool = self._pool
        if pool is None:
            self._writer_waiting = False
            self._fail(self._take_queued(), OutboxUnavailable("the outbox is closed", RETRY_AFTER_SECONDS))
            return
        # Whatever fails here fails the group as unavailable: none of it is known to be committed, and
        # no caller may be left waiting (a connection broken under asyncpg raises its own errors too).
        try:
            connection = await pool.acquire(timeout=self._timeout)
        except Exception as error:
            self._writer_waiting = False
            self._fail(self._take_queued(), error)
            return
        self._writer_waiting = False
        group = self._take_queued()
        try:
            async with asyncio.timeout(self._timeout):
                outcomes = await self._store_group(connection, group)
        except Exception as error:
            self._fail(group, error)
        else:
            for append, outcome in zip(group, outcomes, strict=True):
                if not append.future.done():
                    if outcome is None:
                        append.future.set_result(None)
                    else:
                        append.future.set_exception(outcome)
            if any(outcome is None for outcome in outcomes):
                self._notify_others()
        finally:
            with contextlib.suppress(Exception):  # a connection that cannot be reset is closed by the pool
                await pool.release(connection)

    def _take_queued(self) -> list[_Append]:
        group, self._queued = self._queued, []
        return group

    def _fail(self, group: list[_Append], error: BaseException) -> None:
        unavailable = (
            error
            if isinstance(error, OutboxUnavailable)
            else OutboxUnavailable(f"the outbox cannot store events ({error!r})", RETRY_AFTER_SECONDS)
        )
        for append in group:
            if not append.future.done():
                append.future.set_exception(unavailable)

    async def _store_group(
        self, connection: "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]", group: list[_Append]
    ) -> list[Exception | None]:
        """The group stored at once; a request that does not fit, or reuses a key, is refused alone.

        A group of single-event requests (every ``POST /api``) needs no transaction around its two
        statements: the ``INSERT`` is one statement, atomic by itself, and a request whose event another
        instance stored between the read and the insert is refused as unavailable, for its retry to be
        judged against what is stored. A group with a larger request is one transaction, rolled back
        whole in that case, so that no request is ever stored in part. A request whose events are all
        new is leased to this process's relay while it has room.
        """
        ids = [event_id for append in group for event_id in append.ids]
        outcomes: list[Exception | None] = []
        hand_off = self._hand_off
        handed: list[EncodedEvent] = []
        now = self._clock_ms()
        atomic = any(len(append.ids) > 1 for append in group)
        stored_now: dict[str, Place] = {}
        async with connection.transaction() if atomic else contextlib.nullcontext():
            ((events, size, known_ids, known_hashes),) = await connection.fetch(self._sql_existing, ids)
            stored = dict(zip(known_ids, known_hashes, strict=True))
            new: dict[str, tuple[bytes, bytes, bool]] = {}
            for append in group:
                reused = [
                    event_id
                    for event_id, fingerprint in zip(append.ids, append.hashes, strict=True)
                    if stored.get(event_id, new.get(event_id, (fingerprint,))[0]) != fingerprint
                ]
                if reused:
                    outcomes.append(IdempotencyKeyReused(reused))
                    continue
                adding = [
                    (event_id, fingerprint, body)
                    for event_id, fingerprint, body in zip(
                        append.ids, append.hashes, append.bodies, strict=True
                    )
                    if event_id not in stored and event_id not in new
                ]
                added_bytes = sum(len(body) for _, _, body in adding)
                if events + len(adding) > self._max_events or size + added_bytes > self._max_bytes:
                    outcomes.append(
                        OutboxUnavailable(
                            "the outbox is full; the relay is behind or the bus is down", RETRY_AFTER_SECONDS
                        )
                    )
                    continue
                leased = (
                    hand_off is not None
                    and len(adding) == len(append.ids) == len(set(append.ids))
                    and len(hand_off.waiting) + len(handed) + len(adding) <= hand_off.capacity
                )
                if leased:
                    handed.extend(
                        EncodedEvent(event.id, event.name, event.ts, body)
                        for event, body in zip(append.events, append.bodies, strict=True)
                    )
                new.update((event_id, (fingerprint, body, leased)) for event_id, fingerprint, body in adding)
                events, size = events + len(adding), size + added_bytes
                outcomes.append(None)
            if new:
                inserted = await connection.fetch(
                    self._sql_insert,
                    list(new),
                    [fingerprint for fingerprint, _, _ in new.values()],
                    [body for _, body, _ in new.values()],
                    now,
                    next(self._slots),
                    None if hand_off is None else hand_off.owner,
                    0 if hand_off is None else now + hand_off.lease_ms,
                    [leased for _, _, leased in new.values()],
                )
                stored_now = {row[0]: row[1] for row in inserted}
                if len(stored_now) < len(new) and atomic:
                    # Another instance stored one of these ids since the read above: nothing of the group
                    # is kept, and its callers' retries are judged against what was stored.
                    raise asyncpg.exceptions.UniqueViolationError("an event id was stored concurrently")
                if len(stored_now) < len(new):
                    outcomes = [
                        _stored_meanwhile()
                        if outcome is None and append.ids[0] in new and append.ids[0] not in stored_now
                        else outcome
                        for append, outcome in zip(group, outcomes, strict=True)
                    ]
                    handed = [event for event in handed if event.id in stored_now]
        if hand_off is not None and hand_off is self._hand_off:
            hand_off.waiting.extend((now, event, stored_now[event.id]) for event in handed)
        return outcomes

    def _notify_others(self) -> None:
        """NOTIFY the other instances' relays after the commit, on its own: one at a time, coalesced."""
        if self._notify is not None:
            self._notify_again = True
            return
        self._notify = asyncio.get_running_loop().create_task(self._send_notify())

    async def _send_notify(self) -> None:
        try:
            while True:
                self._notify_again = False
                pool = self._pool
                if pool is None or not self._listen:
                    return
                with contextlib.suppress(*DATABASE_ERRORS):  # the relays' polls find the events anyway
                    async with asyncio.timeout(self._timeout):
                        await pool.execute("SELECT pg_notify($1, '')", self._channel)
                if not self._notify_again:
                    return
        finally:
            self._notify = None

    # Delivering

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        hand_off = self._hand_off if self._hand_off is not None and self._hand_off.owner == owner else None
        if hand_off is not None:
            overdue = self._overdue_hand_offs(hand_off)
            if overdue:
                await self._release(owner, overdue)
        now = self._clock_ms()
        rows = await self._open_pool().fetch(
            self._sql_claim, owner, now + int(lease_seconds * 1000), now, limit
        )
        rows.sort(key=lambda row: row[0])
        places = {event_id: place for _, event_id, place, _, _ in rows}
        claimed = [claimed_event(body, attempts) for _, _, _, body, attempts in rows]
        if hand_off is not None:
            waiting = hand_off.waiting
            while waiting and len(claimed) < limit:
                _, event, place = waiting.popleft()
                claimed.append(ClaimedEvent(event=event, attempts=0))
                places[event.id] = place
        self._places[owner] = places
        return claimed

    def _overdue_hand_offs(self, hand_off: _HandOff) -> list[str]:
        """Take from memory the events that waited half their lease: released now, the claim that
        follows gets them from the database with a fresh lease, so that no lease runs out mid-publish."""
        fresh_after = self._clock_ms() - hand_off.lease_ms // 2
        overdue: list[str] = []
        waiting = hand_off.waiting
        while waiting and waiting[0][0] < fresh_after:
            overdue.append(waiting.popleft()[1].id)
        return overdue

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        """Delivered is delivered, whoever holds the lease now: the bus has the event.

        The rows are found where ``owner``'s last claim left them (their ``ctid``, checked against the
        id), without a look-up in the index on ``id``. Should a row have moved since (another relay took
        it over when its lease ran out), or the owner not have claimed it, it is found by its id.
        """
        places = self._places.get(owner, {})
        located = [(places[event_id], event_id) for event_id in event_ids if event_id in places]
        now = self._clock_ms()
        marked = 0
        if located:
            marked = await self._open_pool().fetchval(
                self._sql_delivered_in_place,
                [place for place, _ in located],
                [event_id for _, event_id in located],
                now,
                self._keep_delivered,
                next(self._slots),
            )
        if marked < len(event_ids):
            await self._open_pool().execute(
                self._sql_delivered, list(event_ids), now, self._keep_delivered, next(self._slots)
            )
        self._purges.start_when_due()

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        now = self._clock_ms()
        await self._open_pool().execute(
            f"UPDATE {self._schema}.outbox SET attempts = attempts + 1, not_before = $1, lease_owner = NULL,"
            " lease_until = 0, last_error = $2, failed_at = $3"
            f" WHERE id = ANY($4::text[]) AND lease_owner = $5 AND {STILL_PENDING}",
            now + int(delay * 1000),
            error,
            now,
            list(event_ids),
            owner,
        )

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        now = self._clock_ms()
        await self._open_pool().execute(
            f"UPDATE {self._schema}.outbox SET state = 'dead', attempts = attempts + 1, lease_owner = NULL,"
            " lease_until = 0, last_error = $1, failed_at = $2, finished_at = $2"
            f" WHERE id = ANY($3::text[]) AND lease_owner = $4 AND {STILL_PENDING}",
            reason,
            now,
            list(event_ids),
            owner,
        )

    async def hold_owner(self, owner: str) -> None:
        """Mark ``owner`` alive while this store is open: its advisory lock, on the owner session.

        Behind a transaction pooler there is no session to hold it: the owner's leases then run out.
        """
        if self._session is not None:
            await self._session.hold(owner)

    async def release_dead_owners(self) -> int:
        """Release the pending leases of owners whose lock is free (they died); returns how many events.

        The owners are those named in ``outbox_owners``: only when one of them died are the pending
        events' leases looked at. An owner that never held its lock keeps its leases until they run out.
        Behind a transaction pooler no owner holds a lock, so none can be known dead: nothing is released.
        """
        if self._session is None:
            return 0
        s = self._schema
        async with self._open_pool().acquire() as connection, connection.transaction():
            dead = await connection.fetchval(
                f"WITH dead AS (DELETE FROM {s}.outbox_owners"
                " WHERE pg_try_advisory_xact_lock(" + lock_key(f"'{s}/' || owner") + ") RETURNING owner)"
                " SELECT array(SELECT owner FROM dead)"
            )
            if not dead:
                return 0
            status = await connection.execute(
                f"UPDATE {s}.outbox SET lease_owner = NULL, lease_until = 0"
                " WHERE state = 'pending' AND lease_until > $1 AND lease_owner = ANY($2::text[])",
                self._clock_ms(),
                dead,
            )
        return int(status.split()[-1])

    # Operating

    async def probe(self) -> str | None:
        """Ready when a write commits: a database down, read-only or out of connections shows here."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._open_pool().execute(
                    f"UPDATE {self._schema}.outbox_heartbeat SET at = $1", self._clock_ms()
                )
        except (*DATABASE_ERRORS, OutboxUnavailable) as error:
            return f"the outbox cannot be written ({type(error).__name__})"
        return None

    async def status(self) -> OutboxStatus:
        s = self._schema
        (row,) = await self._open_pool().fetch(
            f"SELECT (SELECT count(*) FROM {s}.outbox WHERE state = 'pending'),"
            f" (SELECT coalesce(sum(size), 0) FROM {s}.outbox WHERE state = 'pending'),"
            f" (SELECT min(accepted_at) FROM {s}.outbox WHERE state = 'pending'),"
            f" (SELECT count(*) FROM {s}.outbox WHERE state = 'dead'),"
            f" (SELECT count(*) FROM {s}.outbox WHERE state = 'delivered' AND finished_at >= $1),"
            f" (SELECT last_error FROM {s}.outbox WHERE state != 'delivered' AND failed_at IS NOT NULL"
            "  ORDER BY failed_at DESC LIMIT 1)",
            self._clock_ms() - 60_000,
        )
        pending, pending_bytes, oldest, dead, recent, last_error = row
        now = self._clock_ms()
        return OutboxStatus(
            pending=pending,
            pending_bytes=int(pending_bytes),
            oldest_pending_age=None if oldest is None else max(0, now - oldest) / 1000,
            dead=dead,
            delivered_last_minute=recent,
            last_error=last_error,
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self._open_pool().fetch(
            f"SELECT id, body, attempts, last_error, failed_at FROM {self._schema}.outbox WHERE state = 'dead'"
            " ORDER BY failed_at, seq LIMIT $1",
            limit,
        )
        return [
            DeadLetter(
                id=event_id, name=read_encoded(body).name, attempts=attempts, reason=reason, failed_at_ms=at
            )
            for event_id, body, attempts, reason, at in rows
        ]

    async def revive(self, event_ids: Sequence[str] | None) -> int:
        """Make dead events (these ids, or all when ``None``) pending again; returns how many."""
        status = await self._open_pool().execute(
            f"UPDATE {self._schema}.outbox SET state = 'pending', attempts = 0, not_before = $1,"
            " finished_at = NULL WHERE state = 'dead' AND ($2::text[] IS NULL OR id = ANY($2::text[]))",
            self._clock_ms(),
            None if event_ids is None else list(event_ids),
        )
        return int(status.split()[-1])

    async def purge_delivered(self) -> int:
        """Forget every delivered event now rather than after the retention period; returns how many."""
        status = await self._open_pool().execute(
            f"DELETE FROM {self._schema}.outbox WHERE state = 'delivered'"
        )
        return int(status.split()[-1])

    async def _forget_delivered_chunk(self, before_ms: int, limit: int) -> int:
        status = await self._open_pool().execute(
            f"DELETE FROM {self._schema}.outbox WHERE seq IN (SELECT seq FROM {self._schema}.outbox"
            " WHERE state = 'delivered' AND finished_at < $1 LIMIT $2)",
            before_ms,
            limit,
        )
        return int(status.split()[-1])

    def _open_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise OutboxUnavailable("the outbox is closed", RETRY_AFTER_SECONDS)
        return self._pool


async def _keep_session(_: asyncpg.Connection) -> None:
    """A pool connection goes back as it is, without asyncpg's reset round trip (unlisten, unlock, reset
    settings): the store never listens, takes session locks or changes settings on the pool's connections
    (the owners' locks live on the owner session's own connection), and asyncpg still rolls back a
    transaction left open."""


def _stored_meanwhile() -> OutboxUnavailable:
    return OutboxUnavailable(
        "another instance stored this event id at the same moment; try again", RETRY_AFTER_SECONDS
    )


async def open_postgres_outbox(
    settings: PostgresOutboxSettings,
    *,
    max_events: int,
    max_bytes: int,
    retention_seconds: float,
    keep_delivered: bool,
) -> AsyncIterator[PostgresOutboxStore]:
    """The outbox as a container resource: migrated and opened at start, closed at shutdown."""
    store = PostgresOutboxStore(
        settings.url.reveal(),
        schema=settings.schema,
        pool_size=settings.pool_size,
        timeout=settings.timeout,
        listen=settings.pooler == "none",
        max_events=max_events,
        max_bytes=max_bytes,
        retention_seconds=retention_seconds,
        keep_delivered=keep_delivered,
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()
