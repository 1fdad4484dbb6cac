"""The contract of ``SessionPort``, which every session adapter passes: the memory session, the
NextAuth session cookie (v4 and v5), and the database sessions on each adapter's tables, on
PostgreSQL and on MariaDB.

Each adapter comes with a harness that signs users in as its app would; what a harness cannot do
(a memory session never expires; a JWT cannot be revoked before it expires) is skipped for it.
"""

import asyncio
import datetime
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import pytest

from adapters.memory import DEV_SESSION_COOKIE, InMemorySession
from adapters.nextauth import (
    NextAuthSession,
    Version,
    claims_for_user,
    default_cookie_name,
    mint_session_cookie,
)
from adapters.nextauth_db import DatabaseSession, DatabaseSessionSettings
from adapters.secret import Secret
from application.ports import SessionCredentials, SessionPort
from domain.user import User
from tests.auth_schemas import SCHEMAS, AuthTables, every_adapter_schema

pytestmark = pytest.mark.anyio

ADA = User("ada", "Ada Lovelace", "ada@example.com", "https://example.com/ada.png")
GRACE = User("grace", None, "grace@example.com", None)
ZOE = User("zoe", "Zoë Ñúñez 李小龍 🎉", "zoë@exämple.com", "https://example.com/zoë.png")
GARBAGE = [
    "",
    " ",
    "null",
    "\x00",
    "%",
    "%00",
    "a" * 10_000,
    "é" * 100,
    "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..x.y.z",
    str(uuid.uuid4()).upper(),
    "'; DROP TABLE users; --",
]


class Harness(Protocol):
    """A session adapter, and the means to sign users in as its app does."""

    cookie_name: str

    def session(self) -> AbstractAsyncContextManager[SessionPort]:
        """The adapter under test, reading the sessions signed in so far."""
        ...

    async def sign_in(self, user: User) -> SessionCredentials:
        """Credentials for a new session of ``user``; the user's id may be the store's own."""
        ...

    async def sign_in_expired(self, user: User) -> SessionCredentials | None:
        """Credentials of a session of ``user`` that has expired, or ``None`` if sessions never expire."""
        ...

    async def sign_out(self, credentials: SessionCredentials) -> bool:
        """End the session as the app's sign-out does; ``False`` if it cannot be ended early."""
        ...

    def unknown(self) -> SessionCredentials:
        """Credentials in the right form that belong to no session."""
        ...


class MemoryHarness:
    cookie_name = DEV_SESSION_COOKIE

    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SessionPort]:
        yield InMemorySession(self._users)

    async def sign_in(self, user: User) -> SessionCredentials:
        token = secrets.token_urlsafe()
        self._users[token] = user
        return SessionCredentials(cookies={self.cookie_name: token})

    async def sign_in_expired(self, user: User) -> SessionCredentials | None:
        return None

    async def sign_out(self, credentials: SessionCredentials) -> bool:
        del self._users[credentials.cookies[self.cookie_name]]
        return True

    def unknown(self) -> SessionCredentials:
        return SessionCredentials(cookies={self.cookie_name: secrets.token_urlsafe()})


class JwtHarness:
    def __init__(self, version: Version) -> None:
        self._version: Version = version
        self._secret = secrets.token_urlsafe()
        self.cookie_name = default_cookie_name(version, secure=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SessionPort]:
        yield NextAuthSession([self._secret], self._version)

    async def sign_in(self, user: User) -> SessionCredentials:
        return self._cookie(mint_session_cookie(self._secret, self._version, claims_for_user(user)))

    async def sign_in_expired(self, user: User) -> SessionCredentials | None:
        expired = mint_session_cookie(self._secret, self._version, claims_for_user(user), max_age=-3600)
        return self._cookie(expired)

    async def sign_out(self, credentials: SessionCredentials) -> bool:
        return False

    def unknown(self) -> SessionCredentials:
        other_app = mint_session_cookie(secrets.token_urlsafe(), self._version, claims_for_user(ADA))
        return self._cookie(other_app)

    @staticmethod
    def _cookie(header: str) -> SessionCredentials:
        return SessionCredentials(cookies=dict(pair.split("=", 1) for pair in header.split("; ")))


class DatabaseHarness:
    cookie_name = default_cookie_name(5, secure=False)

    def __init__(self, tables: AuthTables) -> None:
        self._tables = tables

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SessionPort]:
        settings = DatabaseSessionSettings(
            strategy="database",
            database_url=Secret(self._tables.url),
            adapter=self._tables.schema.name,  # type: ignore[arg-type]
            session_cache=0,
        )
        async with DatabaseSession.from_settings(settings, 5) as session:
            yield session

    async def sign_in(self, user: User) -> SessionCredentials:
        return await self._signed_in(user, datetime.timedelta(days=30))

    async def sign_in_expired(self, user: User) -> SessionCredentials | None:
        return await self._signed_in(user, -datetime.timedelta(minutes=1))

    async def sign_out(self, credentials: SessionCredentials) -> bool:
        await self._tables.delete_session(credentials.cookies[self.cookie_name])
        return True

    def unknown(self) -> SessionCredentials:
        return SessionCredentials(cookies={self.cookie_name: str(uuid.uuid4())})

    async def _signed_in(self, user: User, expires_in: datetime.timedelta) -> SessionCredentials:
        # Emails are unique in most of the adapters' tables: each session gets a user of its own.
        email = None if user.email is None else f"{uuid.uuid4().hex[:8]}.{user.email}"
        user_id = await self._tables.add_user(user.name, email, user.image)
        token = await self._tables.add_session(user_id, datetime.datetime.now(datetime.UTC) + expires_in)
        return SessionCredentials(cookies={self.cookie_name: token})


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, AuthTables]]:
    with every_adapter_schema("eventgate_session_contract") as tables:
        yield tables


def on_tables(key: str) -> Callable[[dict[str, AuthTables]], Harness]:
    return lambda databases: DatabaseHarness(databases[key])


HARNESSES: dict[str, Callable[[dict[str, AuthTables]], Harness]] = {
    "memory": lambda _: MemoryHarness(),
    "jwt-v4": lambda _: JwtHarness(4),
    "jwt-v5": lambda _: JwtHarness(5),
    **{f"database-{key}": on_tables(key) for key in sorted(SCHEMAS)},
}


@pytest.fixture(params=list(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    needs_database = request.param.startswith("database-")
    databases = request.getfixturevalue("databases") if needs_database else {}
    return HARNESSES[request.param](databases)


def same_person(found: User | None, signed_in: User) -> bool:
    """``found`` is ``signed_in`` as the store keeps them: its own id, the same name and image, and
    the same email, which the database harness makes unique with a prefix."""
    if found is None:
        return False
    email_kept = found.email == signed_in.email or (
        found.email is not None
        and signed_in.email is not None
        and found.email.endswith("." + signed_in.email)
    )
    return bool(found.id) and (found.name, found.image) == (signed_in.name, signed_in.image) and email_kept


async def test_finds_a_signed_in_user_with_their_name_email_and_image(harness: Harness) -> None:
    credentials = await harness.sign_in(ADA)
    async with harness.session() as session:
        assert same_person(await session.current_user(credentials), ADA)


async def test_a_user_without_name_or_image_is_found_without_them(harness: Harness) -> None:
    credentials = await harness.sign_in(GRACE)
    async with harness.session() as session:
        user = await session.current_user(credentials)
    assert same_person(user, GRACE)
    assert user is not None
    assert set(user.to_event_data()) == {"id", "email"}


async def test_unicode_names_and_emails_come_back_unchanged(harness: Harness) -> None:
    credentials = await harness.sign_in(ZOE)
    async with harness.session() as session:
        assert same_person(await session.current_user(credentials), ZOE)


async def test_tells_each_signed_in_user_apart(harness: Harness) -> None:
    ada, grace = await harness.sign_in(ADA), await harness.sign_in(GRACE)
    async with harness.session() as session:
        found_ada, found_grace = await session.current_user(ada), await session.current_user(grace)
    assert same_person(found_ada, ADA)
    assert same_person(found_grace, GRACE)
    assert found_ada is not None
    assert found_grace is not None
    assert found_ada.id != found_grace.id


async def test_the_same_credentials_prove_the_same_user_every_time_even_concurrently(
    harness: Harness,
) -> None:
    credentials = await harness.sign_in(ADA)
    async with harness.session() as session:
        first = await session.current_user(credentials)
        again = await asyncio.gather(*(session.current_user(credentials) for _ in range(20)))
    assert same_person(first, ADA)
    assert again == [first] * 20


async def test_other_cookies_beside_the_session_change_nothing(harness: Harness) -> None:
    credentials = await harness.sign_in(ADA)
    crowded = SessionCredentials(cookies={"theme": "dark", **credentials.cookies, "_ga": "GA1.2.3.4"})
    async with harness.session() as session:
        assert await session.current_user(crowded) == await session.current_user(credentials)


async def test_a_request_without_credentials_proves_nobody(harness: Harness) -> None:
    async with harness.session() as session:
        assert await session.current_user(SessionCredentials()) is None
        assert await session.current_user(SessionCredentials(cookies={"theme": "dark"})) is None


async def test_credentials_of_no_session_prove_nobody(harness: Harness) -> None:
    async with harness.session() as session:
        assert await session.current_user(harness.unknown()) is None


async def test_garbage_in_the_session_cookie_proves_nobody_and_raises_nothing(harness: Harness) -> None:
    async with harness.session() as session:
        for value in GARBAGE:
            assert (
                await session.current_user(SessionCredentials(cookies={harness.cookie_name: value})) is None
            )


async def test_an_expired_session_proves_nobody(harness: Harness) -> None:
    credentials = await harness.sign_in_expired(ADA)
    if credentials is None:
        pytest.skip("these sessions never expire")
    async with harness.session() as session:
        assert await session.current_user(credentials) is None


async def test_a_signed_out_session_proves_nobody(harness: Harness) -> None:
    credentials = await harness.sign_in(ADA)
    async with harness.session() as session:
        assert same_person(await session.current_user(credentials), ADA)
    if not await harness.sign_out(credentials):
        pytest.skip("these sessions cannot be ended before they expire")
    async with harness.session() as session:
        assert await session.current_user(credentials) is None
