"""Raw requests of any shape, to ``POST /api`` and ``POST /api/batch``: the answer is always a documented
status, never a 500, and a refused request never publishes anything."""

from collections.abc import Iterator

import msgspec
import pytest
from dependency_injector import providers
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from adapters.memory import InMemoryEventBus
from adapters.nextauth import claims_for_user, mint_session_cookie
from domain.user import User
from entrypoints.http.app import create_app
from entrypoints.http.docs import ANSWERS
from tests.containers import container_for
from tests.e2e.conftest import watch_for
from tests.strategies import json_values, valid_event_names

SECRET = watch_for("the-secret-of-the-fuzzing-tests")
COOKIE_NAME = "next-auth.session-token"
TOKEN = watch_for(mint_session_cookie(SECRET, 4, claims_for_user(User(id="fuzzer"))).split("=", 1)[1])
EXPECTED = {200, 400, 401, 403, 413, 415, 429, 431, 503}
DOCUMENTED = {(answer.status, answer.slug) for answer in ANSWERS}
"""What the README's table and the OpenAPI schema say ``POST /api`` answers (both are made from it)."""

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def mutated(token: str) -> st.SearchStrategy[str]:
    return st.tuples(
        st.integers(0, len(token) - 1), st.characters(min_codepoint=0x21, max_codepoint=0x7E)
    ).map(lambda change: token[: change[0]] + change[1] + token[change[0] + 1 :])


def nested(depth: int) -> bytes:
    return b'{"data":' + b"[" * depth + b"]" * depth + b"}"


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda data: msgspec.json.encode({"data": data})),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(msgspec.json.encode),
    st.integers(1, 5000).map(nested),
    st.integers(200_000, 400_000).map(lambda size: b'{"data": "' + b"x" * size + b'"}'),
    st.just(b""),
)
printable_keys = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8)
valid_batch_events = st.fixed_dictionaries(
    {}, optional={"name": valid_event_names, "data": json_values, "idempotencyKey": printable_keys}
)
any_batch_events = st.one_of(
    valid_batch_events,
    st.fixed_dictionaries(
        {}, optional={"name": st.text(max_size=20), "data": json_values, "idempotencyKey": header_text}
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    json_values,
)
batch_bodies = st.one_of(
    bodies,
    st.lists(valid_batch_events, max_size=110).map(lambda events: msgspec.json.encode({"events": events})),
    st.lists(any_batch_events, max_size=5).map(lambda events: msgspec.json.encode({"events": events})),
    st.dictionaries(st.text(max_size=8), st.lists(any_batch_events, max_size=3), max_size=2).map(
        msgspec.json.encode
    ),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "application/xml"]),
    header_text,
)
cookies = st.one_of(
    st.none(),
    st.just(f"{COOKIE_NAME}={TOKEN}"),
    mutated(TOKEN).map(lambda token: f"{COOKIE_NAME}={token}"),
    header_text,
    st.integers(1, 40_000).map(lambda size: f"{COOKIE_NAME}={TOKEN}; pad={'x' * size}"),
    st.lists(
        st.tuples(st.sampled_from([COOKIE_NAME + ".0", COOKIE_NAME + ".1", COOKIE_NAME]), header_text)
    ).map(lambda pairs: "; ".join(f"{name}={value}" for name, value in pairs)),
)
extra_headers = st.dictionaries(
    st.sampled_from(["Origin", "Sec-Fetch-Site", "Idempotency-Key", "Authorization", "X-Anything", "Accept"]),
    header_text,
    max_size=4,
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[TestClient[Litestar], InMemoryEventBus]]:
    bus = InMemoryEventBus()
    container = container_for(
        {
            "EVENTGATE_DELIVERY": "direct",
            "EVENTGATE_EVENT_BUS": "memory",
            "NEXTAUTH_SECRET": SECRET,
            "EVENTGATE_SESSION_BEARER": "on",
            "EVENTGATE_RATE_LIMIT": "off",
        }
    )
    container.bus_backend.override(providers.Object(bus))
    with TestClient(app=create_app(container)) as client:
        yield client, bus


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def send(
    fuzzed: tuple[TestClient[Litestar], InMemoryEventBus],
    body: bytes,
    content_type: str | None,
    cookie: str | None,
    headers: dict[str, str],
    *,
    path: str = "/api",
) -> None:
    """Send one request and check the answer: documented, well-typed, and publishing only on success,
    then the events it answers the ids of."""
    client, bus = fuzzed
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    if cookie is not None:
        sent["Cookie"] = cookie
    published_before = len(bus.published)

    response = client.post(path, content=body, headers=sent)
    event(f"status {response.status_code}")

    assert response.status_code in EXPECTED, response.text
    assert response.headers["content-type"] in {"application/json", "application/problem+json"}
    if response.status_code != 200:
        assert (response.status_code, response.json()["type"].rpartition(":")[2]) in DOCUMENTED
    published = [published.id for published in bus.published[published_before:]]
    assert published == (response.json()["ids"] if response.status_code == 200 else [])


@FUZZ
@given(body=bodies, content_type=content_types, cookie=cookies, headers=extra_headers)
def test_any_raw_request_gets_a_documented_answer_and_only_a_success_publishes(
    fuzzed: tuple[TestClient[Litestar], InMemoryEventBus],
    body: bytes,
    content_type: str | None,
    cookie: str | None,
    headers: dict[str, str],
) -> None:
    send(fuzzed, body, content_type, cookie, headers)


@FUZZ
@given(body=bodies, cookie=cookies)
def test_any_json_declared_body_and_cookie_get_a_documented_answer_and_only_a_success_publishes(
    fuzzed: tuple[TestClient[Litestar], InMemoryEventBus], body: bytes, cookie: str | None
) -> None:
    send(fuzzed, body, "application/json", cookie, {})


@FUZZ
@given(body=batch_bodies, content_type=content_types, cookie=cookies, headers=extra_headers)
def test_any_raw_batch_request_gets_a_documented_answer_and_only_a_success_publishes_its_events(
    fuzzed: tuple[TestClient[Litestar], InMemoryEventBus],
    body: bytes,
    content_type: str | None,
    cookie: str | None,
    headers: dict[str, str],
) -> None:
    send(fuzzed, body, content_type, cookie, headers, path="/api/batch")


@FUZZ
@given(body=batch_bodies, cookie=st.just(f"{COOKIE_NAME}={TOKEN}") | cookies)
def test_any_json_declared_batch_and_cookie_get_a_documented_answer_and_only_a_success_publishes(
    fuzzed: tuple[TestClient[Litestar], InMemoryEventBus], body: bytes, cookie: str | None
) -> None:
    send(fuzzed, body, "application/json", cookie, {}, path="/api/batch")
