"""Properties of recording: valid events round-trip exactly, invalid ones publish nothing."""

import anyio
import msgspec
import pytest
from hypothesis import given

from adapters.event_ids import new_event_id
from adapters.memory import InMemoryEventBus, InMemorySession
from application.ports import SessionCredentials
from application.record_user_event import RecordUserEvent, RecordUserEventCommand
from domain.errors import InvalidEvent
from domain.event import EventRules, JsonValue
from domain.user import User
from entrypoints.http.request_body import decode_record_event_request
from tests.strategies import invalid_event_names, json_values, valid_event_names

USER = User(id="user-1", name="Ada", email="ada@example.com")
SIGNED_IN = SessionCredentials(cookies={"eventgate.dev-session": "t"})


def record(bus: InMemoryEventBus, command: RecordUserEventCommand) -> list[str]:
    use_case = RecordUserEvent(
        InMemorySession({"t": USER}),
        bus,
        default_event_name="app/user.event",
        rules=EventRules(),
        new_id=new_event_id,
    )
    return anyio.run(use_case.execute, command).event_ids


@given(name=valid_event_names, data=json_values)
def test_every_valid_event_is_recorded_with_the_session_user_and_its_data_byte_for_byte(
    name: str, data: JsonValue
) -> None:
    bus = InMemoryEventBus()
    body = decode_record_event_request(msgspec.json.encode({"name": name, "data": data}))

    ids = record(bus, RecordUserEventCommand(SIGNED_IN, name=name, payload=body.data))

    [event] = bus.published
    assert ids == [event.id]
    assert event.name == name
    assert event.data["user"] == USER.to_event_data()
    assert msgspec.json.encode(event.data["payload"]) == msgspec.json.encode(data)


@given(name=invalid_event_names, data=json_values)
def test_every_invalid_event_name_is_rejected_and_nothing_is_published(name: str, data: JsonValue) -> None:
    bus = InMemoryEventBus()

    with pytest.raises(InvalidEvent):
        record(bus, RecordUserEventCommand(SIGNED_IN, name=name, payload=data))

    assert bus.published == []


@given(spoofed_user=json_values, data=json_values)
def test_a_client_supplied_user_never_replaces_the_session_user(
    spoofed_user: JsonValue, data: JsonValue
) -> None:
    bus = InMemoryEventBus()
    payload = {"user": spoofed_user, "data": {"user": spoofed_user}, "rest": data}

    record(bus, RecordUserEventCommand(SIGNED_IN, payload=payload))

    assert bus.published[0].data["user"] == USER.to_event_data()
