"""schemathesis against the app's own OpenAPI schema: no 500, and every answer is one the schema documents."""

from pathlib import Path
from typing import Any

import schemathesis
from dependency_injector import providers
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from adapters.memory import InMemoryEventBus, InMemorySession
from entrypoints.http.app import create_app
from entrypoints.http.docs import answers_table
from tests.containers import container_for
from tests.e2e.conftest import ADA, SIGNED_IN


def _app_under_test() -> object:
    """Without rate limits: a batch counts once per event, and a few would use up the rest of the run."""
    container = container_for(
        {
            "EVENTGATE_DELIVERY": "direct",
            "EVENTGATE_SESSION": "memory",
            "EVENTGATE_EVENT_BUS": "memory",
            "EVENTGATE_RATE_LIMIT": "off",
        }
    )
    container.bus_backend.override(providers.Object(InMemoryEventBus()))
    container.session.override(providers.Object(InMemorySession({"ada-token": ADA})))
    return create_app(container)


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _app_under_test())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_documented_contract(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=SIGNED_IN)


def test_the_readme_lists_every_answer_the_schema_documents() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    assert answers_table() in readme


def test_the_schema_documents_the_idempotency_key_header() -> None:
    operation = schema.raw_schema["paths"]["/api"]["post"]

    assert {(parameter["name"], parameter["in"]) for parameter in operation["parameters"]} == {
        ("Idempotency-Key", "header")
    }
