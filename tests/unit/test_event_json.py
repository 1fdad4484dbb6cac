"""Encoded events: read back from the stored bytes exactly as they were made, without ``data``."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.event_json import as_encoded, encode_event, read_encoded
from domain.event import UserEvent
from tests.strategies import json_values

user_events = st.builds(
    UserEvent,
    name=st.text(min_size=1, max_size=20),
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    id=st.text(min_size=1, max_size=40),
    ts=st.integers(min_value=-(2**53), max_value=2**53),
)


@given(event=user_events)
def test_an_event_read_from_its_bytes_is_the_event_as_encoded(event: UserEvent) -> None:
    body = encode_event(event)

    read = read_encoded(body)

    assert read == as_encoded(event)
    assert read.body is body
    assert (read.id, read.name, read.ts) == (event.id, event.name, event.ts)


def test_names_and_ids_with_escapes_are_read_as_they_were_written() -> None:
    event = UserEvent(name='app/"quoted"\\é ✓', data={"ts": 1, "name": "not this one"}, id='id-"1"', ts=42)

    read = read_encoded(encode_event(event))

    assert (read.id, read.name, read.ts) == ('id-"1"', 'app/"quoted"\\é ✓', 42)


def test_bytes_that_are_not_an_encoded_event_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="id"):
        read_encoded(b'{"name":"app/x","data":{}}')
