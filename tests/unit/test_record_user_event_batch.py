"""RecordUserEvent.execute_batch on hand-written fakes: every event of a batch recorded, or none."""

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory import InMemoryEventBus, InMemorySession
from adapters.rate_limit import InMemoryRateLimiter
from application.ports import SessionCredentials
from application.rate_policy import Rate, RatePolicy
from application.record_user_event import (
    EventDraft,
    RecordedEvent,
    RecordUserEvent,
    RecordUserEventsCommand,
)
from domain.errors import (
    EventBusUnavailable,
    EventNotAllowed,
    EventTooLarge,
    InvalidEvent,
    RateLimited,
    Unauthenticated,
)
from domain.event import ABSENT, EventRules
from domain.event_ids import idempotent_event_id
from domain.user import User
from tests.fakes import SelectiveEventBus
from tests.strategies import invalid_event_names, json_values, valid_event_names

pytestmark = pytest.mark.anyio

ADA = User(id="user-1", name="Ada Lovelace", email="ada@example.com")
SIGNED_IN_AS_ADA = SessionCredentials(cookies={"eventgate.dev-session": "ada"})
ANONYMOUS = SessionCredentials()
NOW_MS = 1_764_000_000_000


def make_use_case(
    bus: InMemoryEventBus | SelectiveEventBus,
    *,
    rules: EventRules | None = None,
    rate_policy: RatePolicy | None = None,
    max_batch_events: int = 100,
) -> RecordUserEvent:
    ids = iter(f"event-{n}" for n in range(1, 1000))
    return RecordUserEvent(
        InMemorySession({"ada": ADA}),
        bus,
        default_event_name="app/user.event",
        rules=rules or EventRules(),
        rate_policy=rate_policy,
        max_batch_events=max_batch_events,
        clock=lambda: NOW_MS,
        new_id=lambda: next(ids),
    )


def batch(*drafts: EventDraft, credentials: SessionCredentials = SIGNED_IN_AS_ADA) -> RecordUserEventsCommand:
    return RecordUserEventsCommand(credentials, drafts, client_address="192.0.2.1")


def clicks(count: int) -> list[EventDraft]:
    return [EventDraft(name="app/clicked", payload={"n": n}) for n in range(count)]


def per_user(limit: int) -> RatePolicy:
    return RatePolicy(InMemoryRateLimiter(), per_user=Rate(limit, 60), per_address=Rate(1, 60))


async def test_publishes_every_event_in_one_call_of_the_bus_in_order_each_carrying_the_session_user() -> None:
    bus = SelectiveEventBus(lambda event: False)

    recorded = await make_use_case(bus).execute_batch(
        batch(EventDraft(name="app/opened"), EventDraft(payload={"button": "buy"}), EventDraft(payload=None))
    )

    assert recorded == RecordedEvent(user_id="user-1", event_ids=["event-1", "event-2", "event-3"])
    assert bus.calls == [["event-1", "event-2", "event-3"]]
    assert [msgspec.json.decode(event.body) for event in bus.accepted] == [
        {"name": "app/opened", "data": {"user": ADA.to_event_data()}, "id": "event-1", "ts": NOW_MS},
        {
            "name": "app/user.event",
            "data": {"user": ADA.to_event_data(), "payload": {"button": "buy"}},
            "id": "event-2",
            "ts": NOW_MS,
        },
        {
            "name": "app/user.event",
            "data": {"user": ADA.to_event_data(), "payload": None},
            "id": "event-3",
            "ts": NOW_MS,
        },
    ]


async def test_a_batch_retried_with_the_same_keys_gets_the_same_event_ids() -> None:
    use_case = make_use_case(InMemoryEventBus())
    drafts = [EventDraft(idempotency_key="click-1"), EventDraft(idempotency_key="click-2")]

    first = await use_case.execute_batch(batch(*drafts))
    retry = await use_case.execute_batch(batch(*drafts))

    expected = [idempotent_event_id("user-1", "click-1"), idempotent_event_id("user-1", "click-2")]
    assert first.event_ids == retry.event_ids == expected


async def test_an_event_breaking_a_rule_refuses_the_batch_naming_it_and_publishes_nothing() -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus).execute_batch(batch(*clicks(3), EventDraft(name="inngest/x"), *clicks(2)))

    assert raised.value.field == "events[3].name"
    assert str(raised.value).startswith("events[3].name: must not start with 'inngest/'")
    assert bus.published == []


async def test_an_event_too_large_refuses_the_batch_naming_it_and_the_limit() -> None:
    bus = InMemoryEventBus()

    with pytest.raises(EventTooLarge) as raised:
        await make_use_case(bus, rules=EventRules(max_event_bytes=1024)).execute_batch(
            batch(EventDraft(payload="small"), EventDraft(payload="x" * 1024))
        )

    assert (raised.value.field, raised.value.limit) == ("events[1].data", 1024)
    assert bus.published == []


async def test_a_name_outside_the_allow_list_refuses_the_batch_naming_it() -> None:
    bus = InMemoryEventBus()
    rules = EventRules(allowed_names=("app/*",))

    with pytest.raises(EventNotAllowed) as raised:
        await make_use_case(bus, rules=rules).execute_batch(
            batch(EventDraft(name="app/ok"), EventDraft(name="x"))
        )

    assert (raised.value.field, raised.value.name) == ("events[1].name", "x")
    assert bus.published == []


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_an_unusable_idempotency_key_refuses_the_batch_naming_it(key: str) -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus).execute_batch(batch(EventDraft(), EventDraft(idempotency_key=key)))

    assert raised.value.field == "events[1].idempotencyKey"
    assert bus.published == []


async def test_events_sharing_a_key_share_their_id_as_retries_of_one_event_do() -> None:
    bus = InMemoryEventBus()

    recorded = await make_use_case(bus).execute_batch(
        batch(
            EventDraft(idempotency_key="a"), EventDraft(idempotency_key="b"), EventDraft(idempotency_key="a")
        )
    )

    first, second, third = recorded.event_ids
    assert first == third != second


@pytest.mark.parametrize("count", [0, 4])
async def test_refuses_an_empty_batch_and_one_over_the_limit_naming_the_limit(count: int) -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus, max_batch_events=3).execute_batch(batch(*clicks(count)))

    assert raised.value.field == "events"
    assert raised.value.message == f"must hold 1 to 3 events, got {count}"
    assert bus.published == []


async def test_an_anonymous_batch_is_refused_and_counted_once_against_its_address() -> None:
    bus = InMemoryEventBus()
    use_case = make_use_case(bus, rate_policy=per_user(100))

    with pytest.raises(Unauthenticated):
        await use_case.execute_batch(batch(*clicks(5), credentials=ANONYMOUS))
    with pytest.raises(RateLimited):
        await use_case.execute_batch(batch(*clicks(5), credentials=ANONYMOUS))

    assert bus.published == []


async def test_the_rate_limit_counts_one_hit_per_event_and_a_refused_batch_only_its_admission() -> None:
    """Admission (from the headers, before the body is read) takes one hit; the rest of a batch is
    counted all or none, so a batch refused for the rest of its events costs only that one hit."""
    bus = InMemoryEventBus()
    use_case = make_use_case(bus, rate_policy=per_user(5))

    await use_case.execute_batch(batch(*clicks(3)))
    with pytest.raises(RateLimited):
        await use_case.execute_batch(batch(*clicks(3)))
    await use_case.execute_batch(batch(*clicks(1)))
    with pytest.raises(RateLimited):
        await use_case.execute_batch(batch(*clicks(1)))

    assert len(bus.published) == 4


async def test_a_batch_larger_than_the_rate_limit_allows_at_once_is_refused_as_invalid() -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent) as raised:
        await make_use_case(bus, rate_policy=per_user(5)).execute_batch(batch(*clicks(6)))

    assert raised.value.field == "events"
    assert "send smaller batches" in raised.value.message
    assert bus.published == []


async def test_passes_on_an_unavailable_bus_so_the_caller_can_retry_the_whole_batch() -> None:
    bus = InMemoryEventBus()
    bus.fail_next(EventBusUnavailable("the outbox is full", retry_after=5))

    with pytest.raises(EventBusUnavailable):
        await make_use_case(bus).execute_batch(batch(*clicks(3)))

    assert bus.published == []


def test_refuses_to_be_built_with_a_batch_limit_below_one() -> None:
    with pytest.raises(ValueError, match="max_batch_events"):
        make_use_case(InMemoryEventBus(), max_batch_events=0)


drafts = st.builds(EventDraft, name=st.none() | valid_event_names, payload=st.just(ABSENT) | json_values)


@given(
    valid=st.lists(drafts, min_size=1, max_size=8), bad_name=invalid_event_names, position=st.integers(0, 8)
)
def test_one_invalid_event_anywhere_in_a_batch_publishes_nothing_and_is_named(
    valid: list[EventDraft], bad_name: str, position: int
) -> None:
    bus = InMemoryEventBus()
    index = min(position, len(valid))
    drafts = [*valid[:index], EventDraft(name=bad_name), *valid[index:]]

    with pytest.raises(InvalidEvent) as raised:
        anyio.run(make_use_case(bus).execute_batch, batch(*drafts))

    assert raised.value.field == f"events[{index}].name"
    assert bus.published == []


@given(valid=st.lists(drafts, min_size=1, max_size=20))
def test_every_valid_batch_is_published_whole_and_in_order(valid: list[EventDraft]) -> None:
    bus = InMemoryEventBus()

    recorded = anyio.run(make_use_case(bus).execute_batch, batch(*valid))

    assert recorded.event_ids == [event.id for event in bus.published]
    assert [event.name for event in bus.published] == [draft.name or "app/user.event" for draft in valid]
    assert all(event.data["user"] == ADA.to_event_data() for event in bus.published)
