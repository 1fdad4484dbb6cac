import pytest

from adapters.memory import InMemoryEventBus, InMemorySession
from application.ports import SessionCredentials
from domain.errors import EventBusUnavailable, EventRejected
from domain.event import UserEvent
from domain.user import User

pytestmark = pytest.mark.anyio


def an_event(event_id: str) -> UserEvent:
    return UserEvent(name="app/test", data={"user": {"id": "u"}}, id=event_id, ts=0)


async def test_memory_session_finds_the_user_behind_a_known_token() -> None:
    user = User(id="u1")
    session = InMemorySession({"token": user}, cookie_name="sid")

    assert await session.current_user(SessionCredentials(cookies={"sid": "token"})) == user
    assert await session.current_user(SessionCredentials(cookies={"sid": "other"})) is None
    assert await session.current_user(SessionCredentials(cookies={"wrong": "token"})) is None


async def test_memory_bus_records_what_was_published_and_returns_the_ids() -> None:
    bus = InMemoryEventBus()

    ids = await bus.publish([an_event("a"), an_event("b")])

    assert ids == ["a", "b"]
    assert [event.id for event in bus.published] == ["a", "b"]


async def test_memory_bus_fails_the_next_publishes_then_recovers() -> None:
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("down"), times=2)

    for _ in range(2):
        with pytest.raises(EventBusUnavailable):
            await bus.publish([an_event("a")])
    await bus.publish([an_event("b")])

    assert [event.id for event in bus.published] == ["b"]


async def test_memory_bus_fails_until_told_to_stop() -> None:
    bus = InMemoryEventBus()
    bus.fail_always(EventRejected("key rejected"))

    with pytest.raises(EventRejected):
        await bus.publish([an_event("a")])
    bus.fail_always(None)
    await bus.publish([an_event("b")])

    assert [event.id for event in bus.published] == ["b"]


async def test_memory_bus_keeps_only_the_newest_events_up_to_its_capacity() -> None:
    bus = InMemoryEventBus(capacity=2)

    await bus.publish([an_event("a"), an_event("b"), an_event("c")])

    assert [event.id for event in bus.published] == ["b", "c"]
