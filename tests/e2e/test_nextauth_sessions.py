"""POST /api with session cookies made by the real next-auth and @auth/core npm packages."""

from collections.abc import Callable

import pytest
from dependency_injector import providers
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.memory import InMemoryEventBus
from adapters.nextauth import Version, mint_session_cookie
from entrypoints.http.app import create_app
from tests.containers import container_for
from tests.e2e.conftest import KeepEverything, watch_for
from tests.interop.nodejs import NodeLibrary

pytestmark = pytest.mark.anyio

SECRET = watch_for("the-next-js-apps-secret-for-these-tests")
CLAIMS = {
    "sub": "github|4242",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "picture": "https://a.example/ada.png",
}
ADA = {
    "id": "github|4242",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "image": "https://a.example/ada.png",
}

AppFor = Callable[[dict[str, str]], Litestar]


@pytest.fixture
def app_for(bus: InMemoryEventBus) -> Callable[[dict[str, str]], Litestar]:
    """An app configured by ``environment``, delivering directly to ``bus``."""

    def make(environment: dict[str, str]) -> Litestar:
        container = container_for(
            {"EVENTGATE_DELIVERY": "direct", "EVENTGATE_EVENT_BUS": "memory"} | environment
        )
        container.bus_backend.override(providers.Object(bus))
        return create_app(container)

    return make


async def post_with_cookie(app: Litestar, cookie: str) -> Response:
    async with AsyncTestClient(app=app) as client:
        return await client.post("/api", json={"data": "data"}, headers={"Cookie": cookie})


def v4_token(library: NodeLibrary, *, secret: str = SECRET, max_age: int = 3600) -> str:
    [result] = library.run([{"op": "encode", "claims": CLAIMS, "secret": secret, "maxAge": max_age}])
    token: str = result["token"]
    return watch_for(token)


def v5_token(library: NodeLibrary, cookie_name: str, *, secret: str = SECRET) -> str:
    [result] = library.run(
        [{"op": "encode", "claims": CLAIMS, "secret": secret, "salt": cookie_name, "maxAge": 3600}]
    )
    token: str = result["token"]
    return watch_for(token)


async def test_a_next_auth_v4_session_records_the_event_for_its_user(
    app_for: AppFor, bus: InMemoryEventBus, next_auth_v4: NodeLibrary
) -> None:
    app = app_for({"NEXTAUTH_SECRET": SECRET})

    response = await post_with_cookie(app, f"next-auth.session-token={v4_token(next_auth_v4)}")

    assert response.status_code == 200, response.text
    assert bus.published[0].data == {"user": ADA, "payload": "data"}


async def test_an_auth_js_v5_secure_session_records_the_event_for_its_user(
    app_for: AppFor, bus: InMemoryEventBus, auth_core_v5: NodeLibrary
) -> None:
    app = app_for({"AUTH_SECRET": SECRET, "EVENTGATE_NEXTAUTH_VERSION": "5"})
    name = "__Secure-authjs.session-token"

    response = await post_with_cookie(app, f"{name}={v5_token(auth_core_v5, name)}")

    assert response.status_code == 200, response.text
    assert bus.published[0].data["user"] == ADA


@pytest.mark.parametrize(
    "case", ["expired", "another secret", "tampered", "no cookie", "a v4 token read as v5", "garbage"]
)
async def test_a_session_the_library_would_refuse_is_a_401_and_publishes_nothing(
    app_for: AppFor,
    bus: InMemoryEventBus,
    next_auth_v4: NodeLibrary,
    case: str,
) -> None:
    environment = {"NEXTAUTH_SECRET": SECRET, "AUTH_SECRET": SECRET}
    token = v4_token(next_auth_v4)
    cookies = {
        "expired": f"next-auth.session-token={v4_token(next_auth_v4, max_age=-60)}",
        "another secret": f"next-auth.session-token={v4_token(next_auth_v4, secret='not-the-apps-secret')}",
        "tampered": f"next-auth.session-token={token[:-3]}{'A' if token[-3] != 'A' else 'B'}{token[-2:]}",
        "no cookie": "theme=dark",
        "a v4 token read as v5": f"authjs.session-token={token}",
        "garbage": "next-auth.session-token=%%%;next-auth.session-token.0=\x7f",
    }
    if case == "a v4 token read as v5":
        environment["EVENTGATE_NEXTAUTH_VERSION"] = "5"
    response = await post_with_cookie(app_for(environment), cookies[case])

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert bus.published == []


@pytest.mark.parametrize(("bearer", "status"), [("on", 200), ("off", 401)])
async def test_a_bearer_token_is_a_session_only_when_the_fallback_is_on(
    app_for: AppFor, bus: InMemoryEventBus, next_auth_v4: NodeLibrary, bearer: str, status: int
) -> None:
    app = app_for({"NEXTAUTH_SECRET": SECRET, "EVENTGATE_SESSION_BEARER": bearer})

    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/api", json={}, headers={"Authorization": f"Bearer {v4_token(next_auth_v4)}"}
        )

    assert response.status_code == status
    assert len(bus.published) == (1 if status == 200 else 0)


async def test_the_secret_watch_sees_the_session_adapters_debug_log(
    app_for: AppFor, no_secret_is_ever_logged: KeepEverything
) -> None:
    """The check that no secret is logged would prove nothing if it saw no log at all."""
    await post_with_cookie(app_for({"NEXTAUTH_SECRET": SECRET}), "next-auth.session-token=not-a-token")

    assert "adapters.nextauth" in no_secret_is_ever_logged.loggers


@pytest.mark.parametrize("version", [4, 5])
async def test_a_session_planted_beside_the_victims_records_no_event_for_either(
    app_for: AppFor, bus: InMemoryEventBus, version: int
) -> None:
    chosen: Version = 4 if version == 4 else 5
    name = "next-auth.session-token" if version == 4 else "authjs.session-token"
    victim = mint_session_cookie(SECRET, chosen, {"sub": "victim"}, cookie_name=name)
    attacker = mint_session_cookie(SECRET, chosen, {"sub": "attacker"}, cookie_name=name)
    app = app_for(
        {"NEXTAUTH_SECRET": SECRET, "AUTH_SECRET": SECRET, "EVENTGATE_NEXTAUTH_VERSION": str(version)}
    )

    for header in (f"{victim}; {attacker}", f"{attacker}; {victim}"):
        response = await post_with_cookie(app, header)

        assert response.status_code == 401, response.text
    assert bus.published == []
    assert (await post_with_cookie(app, f"{victim}; {victim}")).status_code == 200
    assert bus.published[0].data["user"] == {"id": "victim"}
