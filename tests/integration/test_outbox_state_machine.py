"""A stateful model of the outbox and its relays: no interleaving loses or alters an acknowledged event.

Relays claim, deliver, fail, give up, crash and lose their leases; the store is closed and
reopened as a restarted process would; and at any point everything acknowledged can still be
drained to the bus, byte for byte. Each store runs the very same model: SQLite in a fresh file,
PostgreSQL in a fresh schema of the shared server.
"""

import asyncio
import sqlite3
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.event_json import as_encoded
from adapters.postgres_outbox.store import PostgresOutboxStore
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.ports import EncodedEvent
from domain.errors import IdempotencyKeyReused
from domain.event import UserEvent
from tests.postgres_cluster import SHARED_URL, unique_schema

T = TypeVar("T")
LEASE_SECONDS = 30
OWNERS = st.sampled_from(["relay-a", "relay-b"])


class OutboxModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "outbox.sqlite3"
        self.now_ms = 1_000_000
        self.outbox = self.open_store()
        self.acknowledged: dict[str, EncodedEvent] = {}
        self.requests: dict[str, UserEvent] = {}
        self.received: dict[str, EncodedEvent] = {}
        self.held: dict[str, list[str]] = {"relay-a": [], "relay-b": []}
        self.lease_until: dict[str, int] = {}
        self.counter = 0

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def open_store(self) -> SqliteOutboxStore | PostgresOutboxStore:
        raise NotImplementedError

    def stored_states(self) -> dict[str, str]:
        """Each stored event's state, read beside the store."""
        raise NotImplementedError

    def forget_the_store(self) -> None:
        """Remove what the store left behind."""

    def teardown(self) -> None:
        """Whatever happened, a relay given time delivers every acknowledged event, unaltered."""
        try:
            self.now_ms += 10**7
            self.run(self.outbox.revive(None))
            while claimed := self.run(self.outbox.claim("drainer", 100, LEASE_SECONDS)):
                self.received.update((item.event.id, item.event) for item in claimed)
                self.run(self.outbox.mark_delivered("drainer", [item.event.id for item in claimed]))
            assert self.received == self.acknowledged
        finally:
            self.run(self.outbox.close())
            self.forget_the_store()
            self.loop.close()
            self.folder.cleanup()

    @rule(count=st.integers(min_value=1, max_value=4), payload=st.text(max_size=8))
    def accept(self, count: int, payload: str) -> None:
        events = []
        for _ in range(count):
            self.counter += 1
            events.append(
                UserEvent(name="app/e", data={"payload": payload}, id=f"e{self.counter}", ts=self.counter)
            )
        assert self.run(self.outbox.append(events)) == [event.id for event in events]
        self.acknowledged.update((event.id, as_encoded(event)) for event in events)
        self.requests.update((event.id, event) for event in events)

    @precondition(lambda self: bool(self.acknowledged))
    @rule(data=st.data(), same_request=st.booleans())
    def send_again(self, data: st.DataObject, same_request: bool) -> None:
        """An acknowledged id comes back beside a new event, in whatever state its event is: the same
        request is a retry (the new event alone is stored), another one refuses the whole call."""
        event_id = data.draw(st.sampled_from(sorted(self.acknowledged)))
        original = self.requests[event_id]
        payload = original.data["payload"] if same_request else [original.data["payload"]]
        again = UserEvent(name=original.name, data={"payload": payload}, id=event_id, ts=original.ts + 1)
        self.counter += 1
        fresh = UserEvent(name="app/e", data={"payload": ""}, id=f"e{self.counter}", ts=self.counter)
        if same_request:
            assert self.run(self.outbox.append([fresh, again])) == [fresh.id, event_id]
            self.acknowledged[fresh.id] = as_encoded(fresh)
            self.requests[fresh.id] = fresh
        else:
            with pytest.raises(IdempotencyKeyReused) as raised:
                self.run(self.outbox.append([fresh, again]))
            assert raised.value.event_ids == (event_id,)

    @rule(owner=OWNERS, limit=st.integers(min_value=1, max_value=6))
    def claim(self, owner: str, limit: int) -> None:
        claimed = self.run(self.outbox.claim(owner, limit, LEASE_SECONDS))
        for item in claimed:
            event_id = item.event.id
            other_holders = [o for o, ids in self.held.items() if o != owner and event_id in ids]
            assert not (other_holders and self.lease_until[event_id] > self.now_ms), "leased twice"
            for ids in self.held.values():
                if event_id in ids:
                    ids.remove(event_id)
            assert item.event == self.acknowledged[event_id]
            self.held[owner].append(event_id)
            self.lease_until[event_id] = self.now_ms + LEASE_SECONDS * 1000

    @rule(owner=OWNERS)
    def deliver(self, owner: str) -> None:
        ids, self.held[owner] = self.held[owner], []
        self.received.update((event_id, self.acknowledged[event_id]) for event_id in ids)
        self.run(self.outbox.mark_delivered(owner, ids))

    @rule(owner=OWNERS, delay=st.floats(min_value=0, max_value=60))
    def fail(self, owner: str, delay: float) -> None:
        ids, self.held[owner] = self.held[owner], []
        self.run(self.outbox.retry_later(owner, ids, delay, "bus down"))

    @rule(owner=OWNERS)
    def bury(self, owner: str) -> None:
        ids, self.held[owner] = self.held[owner], []
        self.run(self.outbox.dead_letter(owner, ids, "refused"))

    @rule(owner=OWNERS)
    def crash(self, owner: str) -> None:
        """The relay dies holding its claims: nobody settles them; their leases must expire."""
        self.held[owner] = []

    @rule(seconds=st.integers(min_value=1, max_value=90))
    def time_passes(self, seconds: int) -> None:
        self.now_ms += seconds * 1000

    @rule()
    def restart(self) -> None:
        self.run(self.outbox.close())
        self.held = {owner: [] for owner in self.held}
        self.outbox = self.open_store()

    @rule()
    def revive_dead(self) -> None:
        self.run(self.outbox.revive(None))

    @invariant()
    def every_acknowledged_event_is_stored_unaltered(self) -> None:
        rows = self.stored_states()
        assert rows.keys() == self.acknowledged.keys()
        assert all(rows[event_id] == "delivered" for event_id in self.received)


class SqliteOutboxModel(OutboxModel):
    def open_store(self) -> SqliteOutboxStore:
        outbox = SqliteOutboxStore(self.path, clock_ms=lambda: self.now_ms, retention_seconds=10**9)
        self.run(outbox.open())
        return outbox

    def stored_states(self) -> dict[str, str]:
        with sqlite3.connect(self.path) as reader:
            rows = dict(
                reader.execute(
                    "SELECT id, state FROM outbox UNION ALL SELECT id, 'delivered' FROM outbox_delivered"
                ).fetchall()
            )
        reader.close()
        return rows

    @invariant()
    def the_totals_count_the_undelivered_events_and_their_bytes(self) -> None:
        with sqlite3.connect(self.path) as reader:
            totals = reader.execute("SELECT events, bytes FROM outbox_totals").fetchone()
            counted = reader.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE state != 'delivered'"
            ).fetchone()
        reader.close()
        assert totals == counted


class PostgresOutboxModel(OutboxModel):
    def open_store(self) -> PostgresOutboxStore:
        if not hasattr(self, "schema"):
            self.schema = unique_schema()
            self.reader: asyncpg.Connection = self.run(asyncpg.connect(SHARED_URL))
        outbox = PostgresOutboxStore(
            SHARED_URL, schema=self.schema, clock_ms=lambda: self.now_ms, retention_seconds=10**9, pool_size=2
        )
        self.run(outbox.open())
        return outbox

    def stored_states(self) -> dict[str, str]:
        rows = self.run(self.reader.fetch(f"SELECT id, state FROM {self.schema}.outbox"))  # noqa: S608
        return {row["id"]: row["state"] for row in rows}

    def forget_the_store(self) -> None:
        self.run(self.reader.execute(f"DROP SCHEMA {self.schema} CASCADE"))
        self.run(self.reader.close())


SqliteOutboxModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_sqlite_outbox_state_machine = SqliteOutboxModel.TestCase

PostgresOutboxModel.TestCase.settings = settings(max_examples=20, stateful_step_count=40, deadline=None)
test_postgres_outbox_state_machine = PostgresOutboxModel.TestCase
