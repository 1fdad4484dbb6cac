"""The use case names where a reused idempotency key came from: the header, or each event of a batch."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.memory import InMemorySession
from adapters.sqlite_outbox.publisher import OutboxPublisher
from adapters.sqlite_outbox.store import SqliteOutboxStore
from application.ports import SessionCredentials
from application.record_user_event import (
    EventDraft,
    RecordUserEvent,
    RecordUserEventCommand,
    RecordUserEventsCommand,
)
from domain.errors import IdempotencyKeyReused
from domain.event import EventRules
from domain.user import User

pytestmark = pytest.mark.anyio

ADA = User(id="user-1", name="Ada Lovelace", email="ada@example.com")
SIGNED_IN_AS_ADA = SessionCredentials(cookies={"eventgate.dev-session": "ada"})


@pytest.fixture
async def use_case(tmp_path: Path) -> AsyncIterator[RecordUserEvent]:
    """Recording into a real outbox, the only bus that can tell a reused key."""
    store = SqliteOutboxStore(tmp_path / "outbox.sqlite3")
    await store.open()
    ids = iter(f"event-{n}" for n in range(1, 1000))
    yield RecordUserEvent(
        InMemorySession({"ada": ADA}),
        OutboxPublisher(store),
        default_event_name="app/user.event",
        rules=EventRules(),
        new_id=lambda: next(ids),
    )
    await store.close()


def command(payload: int, key: str = "k") -> RecordUserEventCommand:
    return RecordUserEventCommand(SIGNED_IN_AS_ADA, payload=payload, idempotency_key=key)


async def test_a_key_reused_for_another_request_names_the_header(use_case: RecordUserEvent) -> None:
    first = await use_case.execute(command(1))

    with pytest.raises(IdempotencyKeyReused) as raised:
        await use_case.execute(command(2))

    assert raised.value.fields == ("Idempotency-Key",)
    assert raised.value.event_ids == tuple(first.event_ids)


async def test_a_batch_names_every_event_whose_key_was_reused(use_case: RecordUserEvent) -> None:
    first = await use_case.execute(command(1))
    drafts = [
        EventDraft(payload=0, idempotency_key="new"),
        EventDraft(payload=2, idempotency_key="k"),
        EventDraft(payload=0, idempotency_key="other"),
        EventDraft(payload=3, idempotency_key="k"),
    ]

    with pytest.raises(IdempotencyKeyReused) as raised:
        await use_case.execute_batch(RecordUserEventsCommand(SIGNED_IN_AS_ADA, drafts))

    assert raised.value.fields == ("events[1].idempotencyKey", "events[3].idempotencyKey")
    assert raised.value.event_ids == tuple(first.event_ids)
