"""RecordUserEvent on hand-written fakes: who the event belongs to, what it carries, when it is refused."""

import pytest

from adapters.event_ids import new_event_id
from adapters.memory import InMemoryEventBus, InMemorySession
from application.ports import SessionCredentials
from application.record_user_event import RecordedEvent, RecordUserEvent, RecordUserEventCommand
from domain.errors import EventBusUnavailable, EventTooLarge, InvalidEvent, Unauthenticated
from domain.event import EventRules, JsonValue, serialized_size
from domain.event_ids import idempotent_event_id
from domain.user import User

pytestmark = pytest.mark.anyio

ADA = User(id="user-1", name="Ada Lovelace", email="ada@example.com", image="https://example.com/ada.png")
GRACE = User(id="user-2", name="Grace Hopper")
SIGNED_IN_AS_ADA = SessionCredentials(cookies={"eventgate.dev-session": "ada"})
SIGNED_IN_AS_GRACE = SessionCredentials(cookies={"eventgate.dev-session": "grace"})
ANONYMOUS = SessionCredentials()
NOW_MS = 1_764_000_000_000


def make_use_case(bus: InMemoryEventBus, *, max_event_bytes: int = 256 * 1024) -> RecordUserEvent:
    ids = iter(f"event-{n}" for n in range(1, 1000))
    return RecordUserEvent(
        InMemorySession({"ada": ADA, "grace": GRACE}),
        bus,
        default_event_name="app/user.event",
        rules=EventRules(max_event_bytes=max_event_bytes),
        clock=lambda: NOW_MS,
        new_id=lambda: next(ids),
    )


async def test_publishes_an_event_carrying_the_session_user_and_the_payload() -> None:
    bus = InMemoryEventBus()

    recorded = await make_use_case(bus).execute(
        RecordUserEventCommand(SIGNED_IN_AS_ADA, name="app/clicked", payload={"button": "buy"})
    )

    assert recorded == RecordedEvent(user_id="user-1", event_ids=["event-1"])
    [event] = bus.published
    assert event.to_wire() == {
        "name": "app/clicked",
        "data": {
            "user": {
                "id": "user-1",
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "image": "https://example.com/ada.png",
            },
            "payload": {"button": "buy"},
        },
        "id": "event-1",
        "ts": NOW_MS,
    }


async def test_refuses_an_anonymous_caller_and_publishes_nothing() -> None:
    bus = InMemoryEventBus()

    with pytest.raises(Unauthenticated):
        await make_use_case(bus).execute(RecordUserEventCommand(ANONYMOUS, payload="data"))

    assert bus.published == []


async def test_refuses_an_unknown_session_token() -> None:
    bus = InMemoryEventBus()
    forged = SessionCredentials(cookies={"eventgate.dev-session": "mallory"})

    with pytest.raises(Unauthenticated):
        await make_use_case(bus).execute(RecordUserEventCommand(forged))

    assert bus.published == []


async def test_uses_the_default_name_when_the_request_names_no_event() -> None:
    bus = InMemoryEventBus()

    await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA))

    assert bus.published[0].name == "app/user.event"


async def test_omits_the_payload_when_none_was_sent_but_keeps_an_explicit_null() -> None:
    bus = InMemoryEventBus()
    use_case = make_use_case(bus)

    await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_ADA))
    await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, payload=None))

    without, with_null = bus.published
    assert "payload" not in without.data
    assert with_null.data["payload"] is None


async def test_includes_only_the_user_attributes_the_session_holds() -> None:
    bus = InMemoryEventBus()

    await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_GRACE))

    assert bus.published[0].data["user"] == {"id": "user-2", "name": "Grace Hopper"}


async def test_a_user_inside_the_payload_never_replaces_the_session_user() -> None:
    bus = InMemoryEventBus()
    spoof: JsonValue = {"user": {"id": "admin"}, "data": {"user": {"id": "admin"}}}

    await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, payload=spoof))

    [event] = bus.published
    assert event.data["user"] == ADA.to_event_data()
    assert event.data["payload"] == spoof


async def test_the_same_user_retrying_an_idempotency_key_gets_the_same_event_id() -> None:
    bus = InMemoryEventBus()
    use_case = make_use_case(bus)

    first = await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, idempotency_key="order-42"))
    retry = await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, idempotency_key="order-42"))

    assert first.event_ids == retry.event_ids == [idempotent_event_id("user-1", "order-42")]


async def test_different_users_with_the_same_idempotency_key_get_different_event_ids() -> None:
    bus = InMemoryEventBus()
    use_case = make_use_case(bus)

    ada = await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, idempotency_key="k"))
    grace = await use_case.execute(RecordUserEventCommand(SIGNED_IN_AS_GRACE, idempotency_key="k"))

    assert ada != grace


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "line\nbreak"])
async def test_rejects_an_unusable_idempotency_key_and_publishes_nothing(key: str) -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, idempotency_key=key))

    assert raised.value.field == "Idempotency-Key"
    assert bus.published == []


@pytest.mark.parametrize("name", ["", "n" * 256, "inngest/function.finished", "tab\there"])
async def test_rejects_an_invalid_event_name_and_publishes_nothing(name: str) -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, name=name))

    assert raised.value.field == "name"
    assert bus.published == []


async def test_rejects_an_event_larger_than_the_limit_and_names_the_limit() -> None:
    bus = InMemoryEventBus()

    with pytest.raises(EventTooLarge) as raised:
        await make_use_case(bus, max_event_bytes=1024).execute(
            RecordUserEventCommand(SIGNED_IN_AS_ADA, payload="x" * 1024)
        )

    assert raised.value.limit == 1024
    assert "1024 bytes" in str(raised.value)
    assert bus.published == []


async def test_accepts_an_event_of_exactly_the_limit() -> None:
    bus = InMemoryEventBus()
    probe = InMemoryEventBus()
    await make_use_case(probe).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA, payload=""))
    empty_size = serialized_size(probe.published[0])

    await make_use_case(bus, max_event_bytes=empty_size + 10).execute(
        RecordUserEventCommand(SIGNED_IN_AS_ADA, payload="x" * 10)
    )

    assert len(bus.published) == 1


async def test_passes_on_an_unavailable_bus_so_the_caller_can_retry() -> None:
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("inngest is down", retry_after=3))

    with pytest.raises(EventBusUnavailable) as raised:
        await make_use_case(bus).execute(RecordUserEventCommand(SIGNED_IN_AS_ADA))

    assert raised.value.retry_after == 3
    assert bus.published == []


def test_refuses_to_be_built_with_an_invalid_default_event_name() -> None:
    with pytest.raises(InvalidEvent):
        RecordUserEvent(
            InMemorySession({}),
            InMemoryEventBus(),
            default_event_name="inngest/x",
            rules=EventRules(),
            new_id=new_event_id,
        )
