"""One structured log line per request, under a request id the caller may choose and always gets back."""

import json
import logging
from typing import Any

import pytest
from dependency_injector import providers
from httpx import Response
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus, InMemorySession
from entrypoints.composition.logs import JsonFormatter
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


async def post(headers: dict[str, str], caplog: pytest.LogCaptureFixture) -> tuple[Response, dict[str, Any]]:
    container = container_for(
        {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_SESSION": "memory", "EVENTGATE_EVENT_BUS": "memory"}
    )
    container.bus_backend.override(providers.Object(InMemoryEventBus()))
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    caplog.set_level(logging.INFO, logger="eventgate.access")
    async with AsyncTestClient(app=create_app(container)) as client:
        response = await client.post("/api", json={"data": 1}, headers=headers)
    [record] = [record for record in caplog.records if record.name == "eventgate.access"]
    return response, json.loads(JsonFormatter().format(record))


async def test_a_recorded_event_is_logged_as_one_json_line_with_user_ids_and_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response, line = await post(JSON | SIGNED_IN | {"X-Request-ID": "req-42"}, caplog)

    assert response.headers["x-request-id"] == "req-42"
    assert line["request_id"] == "req-42"
    assert (line["method"], line["path"], line["status"], line["outcome"]) == ("POST", "/api", 200, "ok")
    assert line["user_id"] == ADA.id
    assert line["event_ids"] == response.json()["ids"]
    assert isinstance(line["duration_ms"], float)


async def test_a_refused_request_is_logged_with_its_problem_type(caplog: pytest.LogCaptureFixture) -> None:
    _, line = await post(JSON, caplog)

    assert (line["status"], line["outcome"], line["user_id"]) == (401, "unauthenticated", None)


@pytest.mark.parametrize("given", ["", "has spaces", "x" * 200, "new\\nline"])
async def test_an_unusable_request_id_is_replaced_by_a_fresh_one(
    caplog: pytest.LogCaptureFixture, given: str
) -> None:
    response, line = await post(JSON | SIGNED_IN | {"X-Request-ID": given}, caplog)

    assert line["request_id"] == response.headers["x-request-id"] != given
    assert len(str(line["request_id"])) == 32
