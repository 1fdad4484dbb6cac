"""The event API's wire format: request bodies, the event-id seed, and responses."""

import base64
import json
import os
import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.event_json import encode_event
from adapters.inngest import wire
from domain.event import UserEvent
from tests.strategies import json_values

user_events = st.builds(
    UserEvent,
    name=st.text(min_size=1, max_size=20),
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=2),
    id=st.uuids().map(str),
    ts=st.integers(min_value=0, max_value=2**53),
)


@given(events=st.lists(user_events, max_size=4))
def test_a_body_is_the_json_array_of_the_events_wire_form(events: list[UserEvent]) -> None:
    encoded = [encode_event(event) for event in events]

    body = wire.encode_array(encoded)

    assert json.loads(body) == [event.to_wire() for event in events]
    assert len(body) == wire.array_size(sum(map(len, encoded)), len(encoded))


def test_an_event_is_compact_utf8_json() -> None:
    event = UserEvent(name="app/ü", data={"a": [1, None]}, id="e-1", ts=7)

    assert encode_event(event) == '{"name":"app/ü","data":{"a":[1,null]},"id":"e-1","ts":7}'.encode()


def test_a_seed_is_unix_millis_and_ten_random_bytes_in_base64() -> None:
    seed = wire.new_event_id_seed(1_795_891_200.1234)

    match = re.fullmatch(r"(\d+),([A-Za-z0-9+/]{14}==)", seed)
    assert match is not None
    assert match[1] == "1795891200123"
    assert len(base64.b64decode(match[2], validate=True)) == 10


def test_every_seed_is_new() -> None:
    assert len({wire.new_event_id_seed(0) for _ in range(100)}) == 100


def test_seeds_stay_new_across_several_draws_of_randomness_from_the_os() -> None:
    count = 3 * wire.SEEDS_PER_DRAW + 7

    assert len({wire.new_event_id_seed(0) for _ in range(count)}) == count


def test_a_forked_process_never_repeats_the_seeds_its_parent_will_send() -> None:
    wire.new_event_id_seed(0)  # the parent now holds drawn bytes it has not used yet
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork() beside threads
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child only
        os.write(write_end, "\n".join(wire.new_event_id_seed(0) for _ in range(20)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        childs = set(pipe.read().decode().split("\n"))
    os.waitpid(child, 0)

    parents = {wire.new_event_id_seed(0) for _ in range(20)}
    assert len(childs) == 20
    assert not childs & parents


def test_decodes_a_success_body() -> None:
    response = wire.decode_response(b'{"ids": ["01A", "01B"], "status": 200}')

    assert response == wire.EventApiResponse(ids=["01A", "01B"], status=200, error=None)
    wire.check_acknowledged(response, 2)


def test_fields_the_server_leaves_out_take_the_sdks_defaults() -> None:
    assert wire.decode_response(b"{}") == wire.EventApiResponse(ids=[], status=0, error=None)


@pytest.mark.parametrize(
    "content", [b"", b"<html>", b"[]", b'{"ids": "01A"}', b'{"ids": [1]}', b'{"status": "200"}']
)
def test_a_body_that_is_not_the_event_apis_json_is_malformed(content: bytes) -> None:
    with pytest.raises(wire.MalformedResponse, match="not the event API's JSON"):
        wire.decode_response(content)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"ids": ["01A", "01B"]}', "status 0, not 200"),
        (b'{"ids": ["01A", "01B"], "status": 400}', "status 400, not 200"),
        (b'{"ids": ["01A", "01B"], "status": 200, "error": "boom"}', "reports an error: boom"),
        (b'{"ids": ["01A"], "status": 200}', "1 ids came back for 2 events"),
        (b'{"ids": ["01A", "01B", "01C"], "status": 200}', "3 ids came back for 2 events"),
        (b'{"status": 200}', "0 ids came back for 2 events"),
        (b'{"ids": ["01A", ""], "status": 200}', "without an id"),
    ],
)
def test_a_success_body_must_acknowledge_each_event(content: bytes, problem: str) -> None:
    with pytest.raises(wire.MalformedResponse, match=problem):
        wire.check_acknowledged(wire.decode_response(content), 2)


@pytest.mark.parametrize(
    ("ids", "accepted"),
    [([], 0), ([""], 0), (["01A"], 1), (["01A", "", "01C"], 1), (["01A", "01B", "01C", "01D"], 3)],
)
def test_an_error_body_accepted_the_events_before_its_first_empty_id(ids: list[str], accepted: int) -> None:
    response = wire.EventApiResponse(ids=ids, status=400, error="invalid")

    assert wire.accepted_count(response, 3) == accepted
