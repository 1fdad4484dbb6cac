"""Hostile sites and hostile input: every row of the README's Security table, through the real app."""

from collections.abc import Callable
from typing import Any

import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

APP_ORIGIN = "https://app.example.com"
JSON = {"Content-Type": "application/json"}
AppFor = Callable[..., Litestar]


@pytest.fixture
def app_for(bus: InMemoryEventBus) -> AppFor:
    def make(**environment: str) -> Litestar:
        container = container_for(
            {
                "EVENTGATE_DELIVERY": "direct",
                "EVENTGATE_SESSION": "memory",
                "EVENTGATE_EVENT_BUS": "memory",
                "EVENTGATE_ALLOWED_ORIGINS": APP_ORIGIN,
            }
            | environment
        )
        container.bus_backend.override(providers.Object(bus))
        container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
        return create_app(container)

    return make


async def post(app: Litestar, headers: dict[str, str], content: bytes = b'{"data": 1}') -> Any:
    async with AsyncTestClient(app=app, base_url="http://eventgate.internal") as client:
        return await client.post("/api", content=content, headers=headers)


def assert_problem(response: Any, status: int, type_suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:eventgate:problem:{type_suffix}"
    return problem


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://app.example.com.evil.example"},
    ],
)
async def test_refuses_a_request_another_site_made_with_403(
    app_for: AppFor, bus: InMemoryEventBus, headers: dict[str, str]
) -> None:
    response = await post(app_for(), JSON | SIGNED_IN | headers)

    assert_problem(response, 403, "cross-site-request")
    assert bus.published == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": APP_ORIGIN, "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://eventgate.internal", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
)
async def test_accepts_the_app_itself_same_origin_and_clients_that_are_not_browsers(
    app_for: AppFor, headers: dict[str, str]
) -> None:
    response = await post(app_for(), JSON | SIGNED_IN | headers)

    assert response.status_code == 200, response.text


async def test_answers_the_apps_origin_with_cors_and_credentials(app_for: AppFor) -> None:
    response = await post(app_for(), JSON | SIGNED_IN | {"Origin": APP_ORIGIN})

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_a_preflight_is_granted_to_the_apps_origin_only(app_for: AppFor) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    async with AsyncTestClient(app=app_for()) as client:
        granted = await client.options("/api", headers=preflight | {"Origin": APP_ORIGIN})
        refused = await client.options("/api", headers=preflight | {"Origin": "https://evil.example"})

    assert granted.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
async def test_refuses_a_body_not_declared_as_json_with_415(
    app_for: AppFor, bus: InMemoryEventBus, content_type: str | None
) -> None:
    headers = SIGNED_IN if content_type is None else SIGNED_IN | {"Content-Type": content_type}

    response = await post(app_for(), headers)

    assert_problem(response, 415, "unsupported-media-type")
    assert bus.published == []


async def test_accepts_json_with_a_charset_parameter(app_for: AppFor) -> None:
    response = await post(app_for(), SIGNED_IN | {"Content-Type": "Application/JSON; charset=utf-8"})

    assert response.status_code == 200


async def test_refuses_a_body_over_the_limit_with_413_naming_it(
    app_for: AppFor, bus: InMemoryEventBus
) -> None:
    response = await post(
        app_for(EVENTGATE_MAX_BODY_BYTES="1000"), JSON | SIGNED_IN, b'{"data": "' + b"x" * 2000 + b'"}'
    )

    problem = assert_problem(response, 413, "request-too-large")
    assert problem["limit"] == 1000
    assert bus.published == []


async def test_refuses_a_cookie_header_larger_than_three_session_chunks_need(app_for: AppFor) -> None:
    huge = SIGNED_IN["Cookie"] + "; filler=" + "x" * 17_000

    response = await post(app_for(), JSON | {"Cookie": huge})

    assert_problem(response, 431, "cookie-too-large")


async def test_refuses_an_event_name_outside_the_allow_list_with_403_naming_the_rule(
    app_for: AppFor, bus: InMemoryEventBus
) -> None:
    app = app_for(
        EVENTGATE_ALLOWED_EVENT_NAMES="app/*, billing/invoice.paid",
        EVENTGATE_DEFAULT_EVENT_NAME="app/user.event",
    )

    refused = await post(app, JSON | SIGNED_IN, b'{"name": "admin/delete-everything"}')
    accepted = await post(app, JSON | SIGNED_IN, b'{"name": "billing/invoice.paid"}')

    assert "app/*, billing/invoice.paid" in assert_problem(refused, 403, "event-not-allowed")["detail"]
    assert accepted.status_code == 200
    assert [event.name for event in bus.published] == ["billing/invoice.paid"]


@pytest.mark.parametrize(
    ("headers", "status"), [(JSON | SIGNED_IN, 200), (JSON, 401), ({"Sec-Fetch-Site": "cross-site"}, 403)]
)
async def test_every_answer_is_uncacheable_and_never_sniffed(
    app_for: AppFor, headers: dict[str, str], status: int
) -> None:
    response = await post(app_for(), headers)

    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_answers_no_route_took_are_uncacheable_and_never_sniffed_too(app_for: AppFor) -> None:
    async with AsyncTestClient(app=app_for()) as client:
        not_found, wrong_method = await client.get("/no/such/page"), await client.get("/api")

    for response, status in [(not_found, 404), (wrong_method, 405)]:
        assert response.status_code == status
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_post_without_a_body_needs_no_content_type_and_records_the_default_event(
    app_for: AppFor, bus: InMemoryEventBus
) -> None:
    response = await post(app_for(), {"Cookie": "eventgate.dev-session=ada-token"}, content=b"")

    assert response.status_code == 200
    assert [event.name for event in bus.published] == ["app/user.event"]


async def test_a_post_with_a_body_but_no_content_type_is_refused_with_415(
    app_for: AppFor, bus: InMemoryEventBus
) -> None:
    response = await post(app_for(), {"Cookie": "eventgate.dev-session=ada-token"}, content=b"{}")

    assert_problem(response, 415, "unsupported-media-type")
    assert bus.published == []


async def test_options_without_origin_answers_what_the_route_allows(app_for: AppFor) -> None:
    async with AsyncTestClient(app=app_for(), base_url="http://eventgate.internal") as client:
        response = await client.options("/api")

    assert response.status_code == 204
    assert "POST" in response.headers["allow"]
