"""What only the PostgreSQL outbox has: migrations taken in turn, group commit in one transaction,
wake-ups across instances, owners' locks, and every database failure answered as unavailable."""

# ruff: noqa: S608  statements name the test's own schema

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.event_json import as_encoded
from adapters.postgres_outbox.schema import SCHEMA_VERSION, SchemaTooNew
from adapters.postgres_outbox.store import PostgresOutboxStore
from domain.errors import IdempotencyKeyReused, OutboxUnavailable
from domain.event import UserEvent
from tests.faults.tcp_proxy import TcpFaultProxy
from tests.postgres_cluster import SHARED_URL, fresh_schema

pytestmark = pytest.mark.anyio


def event(n: int) -> UserEvent:
    return UserEvent(name="app/test", data={"payload": n}, id=f"event-{n}", ts=n)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


async def fetch_value(query: str) -> object:
    connection = await asyncpg.connect(SHARED_URL)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def test_ten_instances_starting_at_once_create_the_schema_once(schema: str) -> None:
    stores = [PostgresOutboxStore(SHARED_URL, schema=schema, pool_size=1) for _ in range(10)]

    await asyncio.gather(*(store.open() for store in stores))
    await stores[3].append([event(1)])
    pending = [(await store.status()).pending for store in stores]
    await asyncio.gather(*(store.close() for store in stores))

    assert pending == [1] * 10
    assert await fetch_value(f"SELECT count(*) FROM {schema}.schema_version") == 1
    assert await fetch_value(f"SELECT version FROM {schema}.schema_version") == SCHEMA_VERSION


async def test_refuses_a_schema_written_by_a_newer_eventgate(schema: str) -> None:
    first = PostgresOutboxStore(SHARED_URL, schema=schema)
    await first.open()
    await first.close()
    await fetch_value(f"UPDATE {schema}.schema_version SET version = {SCHEMA_VERSION + 1} RETURNING 1")

    with pytest.raises(SchemaTooNew):
        await PostgresOutboxStore(SHARED_URL, schema=schema).open()


async def test_concurrent_appends_share_transactions(schema: str) -> None:
    store = PostgresOutboxStore(SHARED_URL, schema=schema, pool_size=2)
    await store.open()
    await asyncio.gather(*(store.append([event(n)]) for n in range(300)))
    await store.close()

    transactions = await fetch_value(f"SELECT count(DISTINCT xmin::text) FROM {schema}.outbox")
    assert isinstance(transactions, int)
    assert transactions < 30, "rows written by one transaction share their xmin"


async def test_an_append_of_another_instance_wakes_this_one(schema: str) -> None:
    listening = PostgresOutboxStore(SHARED_URL, schema=schema)
    appending = PostgresOutboxStore(SHARED_URL, schema=schema)
    await listening.open()
    await appending.open()
    woken = asyncio.Event()
    listening.on_append(woken.set)
    woken.clear()  # opening rings once, for what was appended while nobody listened

    await appending.append([event(1)])
    try:
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        await appending.close()
        await listening.close()


async def test_behind_a_transaction_pooler_no_owner_is_judged_dead(schema: str) -> None:
    pooled = PostgresOutboxStore(SHARED_URL, schema=schema, listen=False)
    await pooled.open()
    await pooled.hold_owner("relay-a")
    await pooled.append([event(1)])
    await pooled.claim("relay-a", 10, 30)

    released = await pooled.release_dead_owners()
    status = await pooled.status()
    await pooled.close()

    assert (released, status.pending) == (0, 1)


async def test_an_owner_is_alive_again_once_its_connection_comes_back(schema: str) -> None:
    with TcpFaultProxy("127.0.0.1", 5432) as proxy:
        owner = PostgresOutboxStore(f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres", schema=schema)
        other = PostgresOutboxStore(SHARED_URL, schema=schema)
        await owner.open()
        await other.open()
        await owner.hold_owner("relay-a")
        await other.append([event(1)])
        await other.claim("relay-a", 10, 30)
        proxy.cut()
        await asyncio.sleep(3)  # the owner's session reconnects a second after the cut

        released = await other.release_dead_owners()
        await other.close()
        await owner.close()

    assert released == 0


async def test_a_database_out_of_reach_answers_unavailable_and_stores_nothing(schema: str) -> None:
    with TcpFaultProxy("127.0.0.1", 5432) as proxy:
        store = PostgresOutboxStore(
            f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres", schema=schema, timeout=1.0
        )
        await store.open()
        proxy.refuse()
        with pytest.raises(OutboxUnavailable) as refused:
            await store.append([event(1)])
        reason = await store.probe()
        proxy.black_hole()
        with pytest.raises(OutboxUnavailable):
            await store.append([event(2)])
        proxy.forward()
        await store.append([event(3)])
        status = await store.status()
        await store.close()

    assert refused.value.retry_after is not None
    assert reason is not None
    assert status.pending == 1


async def test_a_read_only_database_answers_unavailable(schema: str) -> None:
    """A standby, or a database put in read-only mode: its tables are there, but nothing is written."""
    writable = PostgresOutboxStore(SHARED_URL, schema=schema)
    await writable.open()
    await writable.close()
    read_only = PostgresOutboxStore(f"{SHARED_URL}?default_transaction_read_only=on", schema=schema)
    await read_only.open()

    with pytest.raises(OutboxUnavailable, match="ReadOnly"):
        await read_only.append([event(1)])
    reason = await read_only.probe()
    await read_only.close()

    assert reason is not None


async def test_two_instances_storing_one_id_for_two_requests_at_once_keep_exactly_one(schema: str) -> None:
    first = PostgresOutboxStore(SHARED_URL, schema=schema)
    second = PostgresOutboxStore(SHARED_URL, schema=schema)
    await first.open()
    await second.open()
    outcomes: dict[int, list[object]] = {}
    for n in range(30):
        requests = [
            UserEvent(name="app/test", data={"payload": side}, id=f"event-{n}", ts=n) for side in ("a", "b")
        ]
        answered = await asyncio.gather(
            first.append([requests[0]]), second.append([requests[1]]), return_exceptions=True
        )
        outcomes[n] = [
            answer if isinstance(answer, BaseException) else requests[side]
            for side, answer in enumerate(answered)
        ]
    claimed = {item.event.id: item.event for item in await first.claim("relay", 100, 30)}
    await first.close()
    await second.close()

    for n, (a, b) in outcomes.items():
        stored = [answer for answer in (a, b) if isinstance(answer, UserEvent)]
        assert len(stored) == 1, (
            f"event-{n}: exactly one request is acknowledged, the other refused: {a!r} {b!r}"
        )
        assert all(
            isinstance(answer, UserEvent | IdempotencyKeyReused | OutboxUnavailable) for answer in (a, b)
        )
        assert claimed[f"event-{n}"] == as_encoded(stored[0])


@pytest.mark.parametrize("request_events", [[1], [2, 1]], ids=["one event", "two events"])
async def test_an_id_stored_by_another_instance_between_the_read_and_the_insert_stores_nothing_of_the_request(
    schema: str, request_events: list[int]
) -> None:
    """The other instance's insert is held uncommitted until ours waits on it, then committed."""
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    other = await asyncpg.connect(SHARED_URL)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            f"INSERT INTO {schema}.outbox (id, request_hash, body, size, accepted_at, not_before)"
            " VALUES ('event-1', $1, '{}', 2, 0, 0)",
            b"another request.",
        )
        append = asyncio.ensure_future(store.append([event(n) for n in request_events]))
        await asyncio.sleep(0.5)
        await transaction.commit()
        with pytest.raises(OutboxUnavailable):
            await append
        with pytest.raises(IdempotencyKeyReused):
            await store.append([event(n) for n in request_events])
        stored = await other.fetchval(f"SELECT count(*) FROM {schema}.outbox")
    finally:
        await other.close()
        await store.close()

    assert stored == 1, "only the other instance's event"


async def pending_index_reads(schema: str) -> int:
    reads = await fetch_value(
        f"SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = '{schema}'"
        " AND indexrelname = 'outbox_pending'"
    )
    assert isinstance(reads, int)
    return reads


async def test_marking_a_batch_looks_its_ids_up_even_when_statistics_saw_no_backlog(schema: str) -> None:
    """Statistics taken with nothing pending make the pending index look empty; a relay draining the
    backlog that came since must not walk every pending row for each batch it marks (a drain went
    quadratic: 200,000 events took 50 s instead of 8)."""
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await fetch_value(f"ALTER TABLE {schema}.outbox SET (autovacuum_enabled = false)")
    await fetch_value(
        f"INSERT INTO {schema}.outbox (id, request_hash, size, state, accepted_at, not_before, finished_at)"
        " SELECT 'delivered-' || n, '\\x00', 100, 'delivered', 1, 1, 1 FROM generate_series(1, 20000) AS n"
    )
    await fetch_value(f"ANALYZE {schema}.outbox")
    for first in range(0, 5000, 500):
        await store.append([event(n) for n in range(first, first + 500)])
    await store.close()  # a closing connection hands its statistics over at once
    before = await pending_index_reads(schema)

    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await store.mark_delivered("relay", [f"event-{n}" for n in range(10)])
    await store.close()

    assert await pending_index_reads(schema) - before < 100
    marked = f"SELECT count(*) FROM {schema}.outbox WHERE state = 'delivered' AND id LIKE 'event-%'"
    assert await fetch_value(marked) == 10


async def index_reads(schema: str, index: str) -> int:
    reads = await fetch_value(
        f"SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = '{schema}'"
        f" AND indexrelname = '{index}'"
    )
    assert isinstance(reads, int)
    return reads


async def rows_read(schema: str) -> int:
    reads = await fetch_value(
        f"SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_user_tables WHERE relid = '{schema}.outbox'::regclass"
    )
    assert isinstance(reads, int)
    return reads


async def backlog_without_statistics(schema: str, events: int) -> None:
    """``events`` pending in an outbox of which no statistics were taken yet (as when a backlog built up
    in a new outbox): the planner guesses from the table's size how many rows are pending."""
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await fetch_value(f"ALTER TABLE {schema}.outbox SET (autovacuum_enabled = false)")
    for first in range(0, events, 500):
        await store.append([event(n) for n in range(first, first + 500)])
    await closed(store)


async def closed(store: PostgresOutboxStore) -> None:
    """Close ``store`` and wait until its connections have ended, and handed over their statistics."""
    await store.close()
    for _ in range(100):
        if not await fetch_value(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'eventgate-outbox'"
        ):
            return
        await asyncio.sleep(0.05)


async def test_a_claim_walks_the_pending_events_in_order_even_before_statistics_are_taken(
    schema: str,
) -> None:
    """Guessing without statistics, the planner sorted every pending event for each claim (a bitmap
    scan): most of a second per batch at a 200,000-event backlog."""
    await backlog_without_statistics(schema, 5000)
    before = await index_reads(schema, "outbox_pending")

    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    claimed = await store.claim("relay", 10, 60)
    await closed(store)

    assert [item.event.id for item in claimed] == [f"event-{n}" for n in range(10)]
    reads = await index_reads(schema, "outbox_pending") - before
    assert reads < 100


async def test_a_batch_claimed_anew_after_a_restart_and_the_hand_off_are_marked_where_they_are(
    schema: str,
) -> None:
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await store.append([event(n) for n in range(20)])
    await store.claim("relay", 10, 60)
    await store.close()

    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    store.hand_off_to("relay", 60, capacity=5)
    await store.append([event(n) for n in range(20, 25)])
    claimed = await store.claim("relay", 20, 60)  # 10 to 19, then the hand-off's 20 to 24
    await store.mark_delivered("relay", [item.event.id for item in claimed])
    status = await store.status()
    await store.close()

    delivered = await fetch_value(
        f"SELECT array_agg(id ORDER BY seq) FROM {schema}.outbox WHERE state = 'delivered'"
    )
    assert delivered == [f"event-{n}" for n in range(10, 25)]
    assert status.pending == 10


async def test_a_row_moved_since_its_claim_is_marked_by_its_id(schema: str) -> None:
    first = PostgresOutboxStore(SHARED_URL, schema=schema)
    second = PostgresOutboxStore(SHARED_URL, schema=schema)
    await first.open()
    await second.open()
    await first.append([event(1), event(2)])
    await first.claim("relay-a", 10, 60)
    await second.retry_later("relay-a", ["event-1"], 0.0, "moved")  # event-1 is another row version now
    await first.mark_delivered("relay-a", ["event-1", "event-2"])
    status = await second.status()
    await first.close()
    await second.close()

    assert status.pending == 0


async def test_looking_for_dead_owners_does_not_walk_the_backlog_while_every_owner_lives(schema: str) -> None:
    await backlog_without_statistics(schema, 5000)
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await store.hold_owner("relay")
    await store.claim("relay", 10, 60)
    await closed(store)
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await store.hold_owner("relay-2")
    before = await rows_read(schema)

    assert await store.release_dead_owners() == 10, "the closed store's owner died"
    assert await store.release_dead_owners() == 0
    await store.release_dead_owners()
    await closed(store)

    assert await rows_read(schema) - before < 5000 + 1000, "one walk of the backlog, for the owner that died"


async def test_an_append_looks_its_ids_up_by_index_in_an_outbox_that_grew_since_it_was_new(
    schema: str,
) -> None:
    """A statement run a few times on one connection may be kept as a generic plan, planned for the
    table as it was then: planned on a new outbox, the ids' lookup read the whole table for each
    append, slower as the outbox grew, until statistics were first taken (a new deployment managed
    1,500 requests a second instead of 4,000)."""
    store = PostgresOutboxStore(SHARED_URL, schema=schema)
    await store.open()
    await fetch_value(f"ALTER TABLE {schema}.outbox SET (autovacuum_enabled = false)")
    appends, size = 500, 10
    for first in range(0, appends * size, size):
        await store.append([event(n) for n in range(first, first + size)])
    await closed(store)

    every_row_each_time = sum(2 * size * n for n in range(appends))  # two lookups per append
    assert await rows_read(schema) < every_row_each_time / 10
