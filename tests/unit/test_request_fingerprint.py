"""The fingerprint that tells an idempotent retry from a new request under the same key."""

from hypothesis import given
from hypothesis import strategies as st

from adapters.event_json import request_fingerprint
from domain.event import UserEvent

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _event(name: str, data: dict[str, object], *, user: str = "u1", ts: int = 1) -> UserEvent:
    return UserEvent(name=name, data={"user": {"id": user}, **data}, id="e1", ts=ts)  # type: ignore[dict-item]


@given(name=st.text(min_size=1), payload=_json, ts=st.integers(0, 2**40))
def test_a_retry_has_the_fingerprint_of_its_first_request_whatever_the_time_and_user_details(
    name: str, payload: object, ts: int
) -> None:
    first = _event(name, {"payload": payload}, ts=1)
    retry = _event(name, {"payload": payload}, user="u1 renamed", ts=ts)
    assert request_fingerprint(first) == request_fingerprint(retry)


@given(name=st.text(min_size=1), payload=_json, other=_json)
def test_another_payload_has_another_fingerprint(name: str, payload: object, other: object) -> None:
    same = payload == other and type(payload) is type(other)
    assert (
        request_fingerprint(_event(name, {"payload": payload}))
        == request_fingerprint(_event(name, {"payload": other}))
    ) == same


def test_another_name_has_another_fingerprint() -> None:
    assert request_fingerprint(_event("a", {})) != request_fingerprint(_event("b", {}))


def test_an_absent_payload_differs_from_a_null_one() -> None:
    assert request_fingerprint(_event("a", {})) != request_fingerprint(_event("a", {"payload": None}))
