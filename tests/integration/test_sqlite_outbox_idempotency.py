"""The SQLite outbox tells a retry from a reused idempotency key, and keeps no body once delivered."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore
from domain.errors import EventBusUnavailable, IdempotencyKeyReused
from domain.event import JsonValue, UserEvent
from tests.sqlite_outbox_rows import EVERY_EVENT

pytestmark = pytest.mark.anyio


def event(event_id: str, payload: JsonValue = "a", *, name: str = "app/test", user: str = "Ada") -> UserEvent:
    return UserEvent(
        name=name, data={"user": {"id": "u", "name": user}, "payload": payload}, id=event_id, ts=1
    )


def stored(path: Path, column: str = "id") -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as reader:
        rows = reader.execute(f"SELECT id, {column} FROM {EVERY_EVENT} ORDER BY seq").fetchall()  # noqa: S608
    reader.close()
    return rows


async def test_the_same_id_with_the_same_request_is_a_retry_answered_with_its_id(
    tmp_path: Path, outbox: SqliteOutboxStore
) -> None:
    await outbox.append([event("a")])

    answer = await outbox.append([event("b"), event("a", user="Ada L.")])

    assert answer == ["b", "a"]
    assert stored(tmp_path / "outbox.sqlite3") == [("a", "a"), ("b", "b")]


@pytest.mark.parametrize(
    "again",
    [
        event("a", "other"),
        event("a", name="app/other"),
        UserEvent(name="app/test", data={"user": {}}, id="a", ts=1),
    ],
    ids=["another payload", "another name", "no payload"],
)
async def test_the_same_id_with_another_request_refuses_the_whole_call(
    tmp_path: Path, outbox: SqliteOutboxStore, again: UserEvent
) -> None:
    await outbox.append([event("a")])

    with pytest.raises(IdempotencyKeyReused) as raised:
        await outbox.append([event("b"), again, event("c")])

    assert raised.value.event_ids == ("a",)
    assert stored(tmp_path / "outbox.sqlite3") == [("a", "a")]


async def test_two_events_of_one_call_under_one_id_with_different_requests_are_refused(
    tmp_path: Path, outbox: SqliteOutboxStore
) -> None:
    with pytest.raises(IdempotencyKeyReused) as raised:
        await outbox.append([event("a", 1), event("b"), event("a", 2), event("a", 3)])

    assert raised.value.event_ids == ("a",)
    assert stored(tmp_path / "outbox.sqlite3") == []


async def test_two_events_of_one_call_under_one_id_with_one_request_are_stored_once(
    tmp_path: Path, outbox: SqliteOutboxStore
) -> None:
    assert await outbox.append([event("a"), event("a")]) == ["a", "a"]

    assert stored(tmp_path / "outbox.sqlite3") == [("a", "a")]


async def test_a_refused_request_leaves_the_others_of_its_group_commit_stored(
    tmp_path: Path, outbox: SqliteOutboxStore
) -> None:
    await outbox.append([event("a")])

    outcomes = await asyncio.gather(
        outbox.append([event("b")]),
        outbox.append([event("c"), event("a", "other")]),
        outbox.append([event("d")]),
        return_exceptions=True,
    )

    assert outcomes[0] == ["b"]
    assert isinstance(outcomes[1], IdempotencyKeyReused)
    assert outcomes[2] == ["d"]
    assert [row[0] for row in stored(tmp_path / "outbox.sqlite3")] == ["a", "b", "d"]
    assert (await outbox.status()).pending == 3


async def test_a_refused_request_takes_no_room_in_the_outbox(tmp_path: Path) -> None:
    outbox = SqliteOutboxStore(tmp_path / "outbox.sqlite3", max_events=3)
    await outbox.open()
    try:
        await outbox.append([event("a")])
        for _ in range(3):
            with pytest.raises(IdempotencyKeyReused):
                await outbox.append([event("b"), event("a", "other")])

        assert await outbox.append([event("c"), event("d")]) == ["c", "d"]
    finally:
        await outbox.close()


async def test_a_delivered_event_keeps_its_id_and_request_hash_but_not_its_body(
    tmp_path: Path, outbox: SqliteOutboxStore
) -> None:
    await outbox.append([event("a"), event("b")])
    await outbox.claim("relay", 10, 30)
    await outbox.retry_later("relay", ["a"], 0, "bus down")
    await outbox.claim("relay", 10, 30)

    await outbox.mark_delivered("relay", ["a"])

    path = tmp_path / "outbox.sqlite3"
    assert sorted(stored(path, "body IS NULL AND last_error IS NULL")) == [("a", 1), ("b", 0)]
    assert sorted(stored(path, "length(request_hash)")) == [("a", 16), ("b", 16)]


async def test_delivered_events_keep_their_bodies_when_asked(tmp_path: Path) -> None:
    outbox = SqliteOutboxStore(tmp_path / "outbox.sqlite3", keep_delivered=True)
    await outbox.open()
    try:
        await outbox.append([event("a")])
        await outbox.claim("relay", 10, 30)
        await outbox.mark_delivered("relay", ["a"])
    finally:
        await outbox.close()

    assert stored(tmp_path / "outbox.sqlite3", "body IS NOT NULL") == [("a", 1)]


async def test_stores_sharing_a_file_share_its_capacity_and_free_it_on_delivery(tmp_path: Path) -> None:
    """Two stores on one file are two connections, as two processes would have."""
    first = SqliteOutboxStore(tmp_path / "outbox.sqlite3", max_events=3)
    second = SqliteOutboxStore(tmp_path / "outbox.sqlite3", max_events=3)
    await first.open()
    await second.open()
    try:
        await first.append([event("a"), event("b")])
        await second.append([event("c")])
        with pytest.raises(EventBusUnavailable):
            await first.append([event("d")])

        await second.claim("relay", 2, 30)
        await second.mark_delivered("relay", ["a", "b"])

        assert await first.append([event("d"), event("e")]) == ["d", "e"]
        with pytest.raises(EventBusUnavailable):
            await second.append([event("f")])
    finally:
        await first.close()
        await second.close()


async def test_claims_stay_oldest_first_when_the_newest_rows_were_purged(outbox: SqliteOutboxStore) -> None:
    """Without AUTOINCREMENT a purged top row's number is given again, but only above every row left."""
    await outbox.append([event("old")])
    await outbox.append([event("b"), event("c")])
    await outbox.claim("relay", 10, 30)
    await outbox.mark_delivered("relay", ["b", "c"])
    await outbox.retry_later("relay", ["old"], 0, "bus down")
    assert await outbox.purge_delivered() == 2

    await outbox.append([event("new")])

    assert [item.event.id for item in await outbox.claim("relay", 10, 30)] == ["old", "new"]
