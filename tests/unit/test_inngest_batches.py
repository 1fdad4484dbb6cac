"""Cutting a publish into request bodies within the event API's limits."""

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.event_json import as_encoded
from adapters.inngest.batches import MAX_EVENTS_PER_REQUEST, BatchLimits, split
from adapters.inngest.wire import array_size
from application.ports import EncodedEvent
from domain.errors import EventRejected
from domain.event import UserEvent


def event(n: int, padding: int = 0) -> EncodedEvent:
    return as_encoded(UserEvent(name="app/clicked", data={"pad": "x" * padding}, id=f"evt-{n}", ts=n))


def test_events_that_fit_travel_in_one_request() -> None:
    events = [event(n) for n in range(MAX_EVENTS_PER_REQUEST)]

    [body] = split(events, BatchLimits(max_bytes=3 * 1024 * 1024))

    assert list(body.events) == events
    assert body.content == b"[" + b",".join(e.body for e in events) + b"]"


def test_the_5001st_event_starts_a_second_request() -> None:
    events = [event(n) for n in range(MAX_EVENTS_PER_REQUEST + 1)]

    bodies = split(events, BatchLimits(max_bytes=3 * 1024 * 1024))

    assert [len(body.events) for body in bodies] == [MAX_EVENTS_PER_REQUEST, 1]


def test_a_body_of_exactly_the_byte_limit_is_not_split() -> None:
    events = [event(1), event(2)]
    exact = array_size(sum(len(e.body) for e in events), 2)

    assert len(split(events, BatchLimits(max_bytes=exact))) == 1
    assert len(split(events, BatchLimits(max_bytes=exact - 1))) == 2


def test_an_event_too_large_for_any_request_is_rejected_before_anything_is_sent() -> None:
    events = [event(1), event(2, padding=1000)]

    with pytest.raises(EventRejected, match="event too large: event evt-2 is") as raised:
        split(events, BatchLimits(max_bytes=500))

    assert raised.value.accepted_ids == ()


def test_publishing_nothing_makes_no_request() -> None:
    assert split([], BatchLimits()) == []


@pytest.mark.parametrize("limits", [{"max_events": 0}, {"max_events": 5001}, {"max_bytes": 1}])
def test_limits_that_cannot_work_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        BatchLimits(**limits)


@given(
    paddings=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
    max_events=st.integers(min_value=1, max_value=7),
    max_bytes=st.integers(min_value=400, max_value=2000),
)
def test_bodies_keep_the_order_stay_within_the_limits_and_are_as_full_as_they_can_be(
    paddings: list[int], max_events: int, max_bytes: int
) -> None:
    events = [event(n, padding) for n, padding in enumerate(paddings)]
    limits = BatchLimits(max_events=max_events, max_bytes=max_bytes)

    bodies = split(events, limits)

    assert [e for body in bodies for e in body.events] == events
    for body in bodies:
        assert len(body.events) <= max_events
        assert len(body.content) <= max_bytes
        assert json.loads(body.content) == [json.loads(e.body) for e in body.events]
    for body, following in itertools.pairwise(bodies):
        with_next = [e.body for e in [*body.events, following.events[0]]]
        too_many = len(with_next) > max_events
        assert too_many or array_size(sum(map(len, with_next)), len(with_next)) > max_bytes
