"""Our requests match the official Inngest Python SDK's, sent to the same loopback stand-in."""

import base64
import re
from collections.abc import Iterator

import inngest
import pytest

from adapters.inngest import HttpClientSettings, InngestEventBus, open_http_client
from domain.event import UserEvent
from tests.containers import inngest_endpoint_from
from tests.integration.inngest_stand_in import EventApiStandIn, RecordedRequest, Reply

KEY = "evtkey-wire-compat-0123456789abcdef"
SEED = re.compile(r"^(?P<millis>\d+),(?P<entropy>[A-Za-z0-9+/]+=*)$")
SDK_VARIABLES = (
    "INNGEST_EVENT_KEY",
    "INNGEST_DEV",
    "INNGEST_BASE_URL",
    "INNGEST_EVENT_API_BASE_URL",
    "INNGEST_ENV",
    "INNGEST_SIGNING_KEY",
    "RAILWAY_GIT_BRANCH",
    "RENDER_GIT_BRANCH",
    "VERCEL_GIT_COMMIT_REF",
)
EVENT = UserEvent(
    name="app/user.event",
    data={"user": {"id": "user-1", "name": "Ada Lovelace"}, "payload": {"list": [1, 2.5, None, True, "é"]}},
    id="0198c3a4-7b1e-7c2d-9e0f-1a2b3c4d5e6f",
    ts=1_795_891_200_000,
)


@pytest.fixture
def stand_in() -> Iterator[EventApiStandIn]:
    with EventApiStandIn() as server:
        yield server


def seed_parts(request: RecordedRequest) -> tuple[int, bytes]:
    seed = SEED.match(request.headers["x-inngest-event-id-seed"])
    assert seed is not None, request.headers["x-inngest-event-id-seed"]
    return int(seed["millis"]), base64.b64decode(seed["entropy"], validate=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("production", "environ"),
    [
        (True, {"INNGEST_EVENT_KEY": KEY}),
        (False, {"INNGEST_DEV": "1"}),
    ],
    ids=["cloud-with-key", "dev-without-key"],
)
async def test_sends_the_request_the_official_sdk_sends(
    stand_in: EventApiStandIn, monkeypatch: pytest.MonkeyPatch, production: bool, environ: dict[str, str]
) -> None:
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INNGEST_ENV", "feature-x")
    # The SDK never closes its HTTP clients: closing the connection after answering it leaves no
    # pooled socket for the garbage collector to warn about (a ResourceWarning, an error here).
    stand_in.script(Reply(headers={"connection": "close"}))
    sdk = inngest.Inngest(
        app_id="eventgate-wire-compat",
        event_key=environ.get("INNGEST_EVENT_KEY"),
        event_api_base_url=stand_in.url,
        is_production=production,
    )
    await sdk.send(inngest.Event(name=EVENT.name, data=EVENT.data, id=EVENT.id, ts=EVENT.ts))
    ours_environ = {**environ, "INNGEST_BASE_URL": stand_in.url, "INNGEST_ENV": "feature-x"}
    async with open_http_client(HttpClientSettings()) as client:
        await InngestEventBus(client, inngest_endpoint_from(ours_environ)).publish([EVENT])

    theirs, ours = stand_in.requests
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    assert ours.headers["x-inngest-env"] == theirs.headers["x-inngest-env"] == "feature-x"
    assert ours.json() == theirs.json() == [EVENT.to_wire()]
    (their_millis, their_entropy), (our_millis, our_entropy) = seed_parts(theirs), seed_parts(ours)
    assert len(our_entropy) == len(their_entropy) == 10
    assert abs(our_millis - their_millis) < 60_000
    assert our_entropy != their_entropy
