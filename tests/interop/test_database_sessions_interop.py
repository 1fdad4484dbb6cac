"""Database sessions: the official Auth.js adapters write them, @auth/core's ``Auth()`` says who is
signed in, and eventgate must agree on every case.

For each adapter and database (``@auth/pg-adapter``; ``@auth/drizzle-adapter`` on PostgreSQL and
MySQL; ``@auth/kysely-adapter``; Prisma's tables on both, written with Prisma Client's statements),
the adapter creates users and sessions with ``createUser`` and ``createSession``, signs one out
with ``deleteSession``, and ``Auth()`` answers ``GET /api/auth/session`` for each cookie: a valid
session, an expired one, a deleted one, an unknown token, and a user without name or image.
"""

import datetime
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.nextauth_db import DatabaseSession, DatabaseSessionSettings
from adapters.secret import Secret
from application.ports import SessionCredentials
from domain.user import User
from tests.auth_schemas import SCHEMAS, AuthTables, every_adapter_schema
from tests.interop.nodejs import NodeLibrary, installed

pytestmark = pytest.mark.anyio

COOKIE = "authjs.session-token"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "image": "https://example.com/ada.png"}
GRACE = {"name": None, "email": "grace@example.com", "image": None}
CASES = ("a valid session", "an expired session", "a deleted session", "a user without name or image")
UNKNOWN = "an unknown token"


@dataclass(frozen=True)
class Signed:
    """What the adapter wrote for each case, by case: the session tokens, and the users' ids."""

    tokens: dict[str, str]
    user_ids: dict[str, str]


@pytest.fixture(scope="module")
def auth_js() -> NodeLibrary:
    """@auth/core with the adapters, drizzle-kit, Kysely and the drivers, installed by npm in ``database/``."""
    return installed(Path(__file__).resolve().parent / "database", "authdb.mjs")


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, AuthTables]]:
    with every_adapter_schema("eventgate_interop") as tables:
        yield tables


def setup_request(tables: AuthTables, op: str, **fields: Any) -> dict[str, Any]:
    return {"op": op, "setup": f"{tables.schema.name}/{tables.schema.dialect}", "url": tables.url, **fields}


@pytest.fixture(scope="module")
def signed(auth_js: NodeLibrary, databases: dict[str, AuthTables]) -> dict[str, Signed]:
    """Users and sessions made by each adapter: Ada with three sessions, Grace with one."""
    now = datetime.datetime.now(datetime.UTC)
    month, minute = now + datetime.timedelta(days=30), now - datetime.timedelta(minutes=1)
    users = [
        setup_request(tables, "createUser", user=user)
        for tables in databases.values()
        for user in (ADA, GRACE)
    ]
    created = auth_js.run(users)
    assert all("error" not in result for result in created), created
    ids = iter(result["id"] for result in created)
    user_ids = {key: {"ada": next(ids), "grace": next(ids)} for key in databases}
    owners = {"a valid session": "ada", "an expired session": "ada", "a deleted session": "ada"}
    expiries = {"an expired session": minute}
    sessions = [
        setup_request(
            tables,
            "createSession",
            userId=user_ids[key][owners.get(case, "grace")],
            expires=expiries.get(case, month).isoformat(),
        )
        for key, tables in databases.items()
        for case in CASES
    ]
    tokens = iter(result["sessionToken"] for result in auth_js.run(sessions))
    return {
        key: Signed(
            tokens={case: next(tokens) for case in CASES},
            user_ids={case: str(user_ids[key][owners.get(case, "grace")]) for case in CASES},
        )
        for key in databases
    }


@pytest.fixture(params=sorted(SCHEMAS))
def key(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def settings_for(tables: AuthTables, cache: float) -> DatabaseSessionSettings:
    return DatabaseSessionSettings(
        strategy="database",
        database_url=Secret(tables.url),
        adapter=tables.schema.name,  # type: ignore[arg-type]
        session_cache=cache,
    )


@pytest.fixture
async def eventgate(databases: dict[str, AuthTables], key: str) -> AsyncIterator[DatabaseSession]:
    async with DatabaseSession.from_settings(settings_for(databases[key], 0), 5) as session:
        yield session


def cookie(token: str) -> str:
    return f"theme=dark; {COOKIE}={token}"


def credentials(token: str) -> SessionCredentials:
    return SessionCredentials(cookies={"theme": "dark", COOKIE: token})


def as_auth_js_says(answer: Mapping[str, Any]) -> User | None:
    """The user of ``Auth()``'s answer to ``/api/auth/session``: ``null`` is nobody."""
    assert answer.get("status") == 200, answer
    body = answer["body"]
    if body is None:
        return None
    user = body["user"]
    return User(str(user["id"]), user.get("name"), user.get("email"), user.get("image"))


def test_the_tables_are_those_drizzle_kit_and_kysely_make_of_the_adapters_schemas(
    auth_js: NodeLibrary,
) -> None:
    setups = ["drizzle/postgresql", "drizzle/mysql", "kysely/postgresql"]
    generated = auth_js.run([{"op": "ddl", "setup": setup} for setup in setups])
    for setup, answer in zip(setups, generated, strict=True):
        assert tuple(answer["statements"]) == SCHEMAS[setup].ddl


async def test_agrees_with_auth_js_on_every_session_the_adapter_wrote(
    auth_js: NodeLibrary,
    databases: dict[str, AuthTables],
    signed: dict[str, Signed],
    key: str,
    eventgate: DatabaseSession,
) -> None:
    tables, written = databases[key], signed[key]
    tokens = {**written.tokens, UNKNOWN: str(uuid.uuid4())}
    ours = {case: await eventgate.current_user(credentials(token)) for case, token in tokens.items()}
    answers = auth_js.run(
        [setup_request(tables, "session", cookie=cookie(token)) for token in tokens.values()]
    )
    theirs = {case: as_auth_js_says(answer) for case, answer in zip(tokens, answers, strict=True)}

    assert ours == theirs
    assert theirs["a valid session"] == User(written.user_ids["a valid session"], **ADA)
    assert theirs["a user without name or image"] == User(
        written.user_ids["a user without name or image"], email=GRACE["email"]
    )
    assert theirs["an expired session"] is None
    assert theirs[UNKNOWN] is None


async def test_agrees_with_auth_js_that_a_deleted_session_is_signed_out(
    auth_js: NodeLibrary,
    databases: dict[str, AuthTables],
    signed: dict[str, Signed],
    key: str,
    eventgate: DatabaseSession,
) -> None:
    tables, token = databases[key], signed[key].tokens["a deleted session"]
    async with DatabaseSession.from_settings(settings_for(tables, cache=60), 5) as cached:
        assert await cached.current_user(credentials(token)) is not None
        before, _, after = auth_js.run(
            [
                setup_request(tables, "session", cookie=cookie(token)),
                setup_request(tables, "deleteSession", sessionToken=token),
                setup_request(tables, "session", cookie=cookie(token)),
            ]
        )
        assert as_auth_js_says(before) is not None
        assert as_auth_js_says(after) is None
        assert await eventgate.current_user(credentials(token)) is None
        # The cache's price, as the README says: the sign-out reaches eventgate within the cache time.
        assert await cached.current_user(credentials(token)) is not None
