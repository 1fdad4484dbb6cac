"""``SessionPort`` for a Next.js app whose NextAuth (v4) or Auth.js (v5) keeps sessions in a database."""

import datetime
import logging
import math
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

from adapters.nextauth.cookies import find_session_token, session_cookie_names
from adapters.nextauth.errors import TokenRejected
from adapters.nextauth.keys import Version
from adapters.nextauth_db import mysql, postgres
from adapters.nextauth_db.cache import SessionCache
from adapters.nextauth_db.driver import Row
from adapters.nextauth_db.errors import DatabaseSessionConfigError, SessionStoreMisconfigured
from adapters.nextauth_db.layouts import layout_from_settings, lookup_query
from adapters.nextauth_db.settings import DatabaseSessionSettings, TokenFormat
from adapters.nextauth_db.store import SessionStore
from adapters.nextauth_db.tokens import TOKEN_SHAPES
from application.ports import SessionCredentials
from domain.user import User

logger = logging.getLogger("adapters.nextauth_db")

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MILLISECOND = datetime.timedelta(milliseconds=1)


class SessionLookup(Protocol):
    """Where the session rows are: ``SessionStore``, or a fake in the unit tests."""

    async def fetch(self, token: str) -> Row | None: ...

    async def check(self) -> str | None: ...

    def close(self) -> None: ...


class DatabaseSession:
    """Reads the session as the app's ``getServerSession()`` (v4) or ``auth()`` (v5) would with a
    database adapter: the session cookie holds a token, which is signed in while a row of the
    sessions table has it and an ``expires`` not earlier than now, joined to its user.

    The cookie names are NextAuthSession's: ``cookie_name`` if given, else the version's default
    name, ``__Secure-`` prefixed or not as ``secure_cookie`` says, or either when ``None``. A value
    that the ``generateSessionToken`` of ``generated_by`` (the library's, or the app's own) cannot
    have made is refused without a query.

    Sessions found are remembered for ``cache_seconds`` (see ``SessionCache``); 0 turns that off.
    Nothing is ever written: the app extends ``expires``, and deletes the sessions it finds expired.

    ``current_user`` raises ``SessionStoreUnavailable`` when the database gives no answer: that is
    not a sign-out. ``clock`` gives Unix time, ``monotonic`` the time the cache counts in, both in
    seconds. Use it as an async context manager, or ``open`` and ``close`` it.
    """

    def __init__(
        self,
        store: SessionLookup,
        version: Version,
        *,
        cookie_name: str | None = None,
        secure_cookie: bool | None = None,
        cache_seconds: float = 5.0,
        cache_entries: int = 4096,
        generated_by: TokenFormat = "library",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._names = session_cookie_names(version, cookie_name, secure_cookie)
        self._may_be_token = TOKEN_SHAPES[generated_by]
        self._cache = SessionCache(cache_seconds, cache_entries)
        self._clock = clock
        self._monotonic = monotonic

    @classmethod
    def from_settings(
        cls,
        settings: DatabaseSessionSettings,
        version: Version,
        *,
        cookie_name: str | None = None,
        secure_cookie: bool | None = None,
    ) -> "DatabaseSession":
        """The session over the database and tables the settings name; ``DatabaseSessionConfigError``
        if they cannot work. Nothing connects until ``open``."""
        scheme = urlsplit(settings.database_url.reveal()).scheme.lower()
        layout = layout_from_settings(settings)
        store: SessionLookup
        if scheme in postgres.SCHEMES:
            driver = postgres.PostgresDriver(
                settings.database_url,
                lookup_query(layout, "postgresql"),
                statement_timeout=settings.query_timeout,
            )
            store = SessionStore(driver, pool_size=settings.pool_size, deadline=settings.query_timeout)
        elif scheme in mysql.SCHEMES:
            my_driver = mysql.MySqlDriver(settings.database_url, lookup_query(layout, "mysql"))
            store = SessionStore(my_driver, pool_size=settings.pool_size, deadline=settings.query_timeout)
        else:
            raise DatabaseSessionConfigError(
                "EVENTGATE_NEXTAUTH_DATABASE_URL must be a postgresql:// or mysql:// URL"
            )
        return cls(
            store,
            version,
            cookie_name=cookie_name,
            secure_cookie=secure_cookie,
            cache_seconds=settings.session_cache,
            cache_entries=settings.session_cache_entries,
            generated_by=settings.token_format,
        )

    @property
    def cache_entries(self) -> int:
        """How many sessions are remembered now."""
        return len(self._cache)

    async def open(self) -> None:
        """Try a lookup: ``SessionStoreMisconfigured`` if the database refuses it for good (a wrong
        password, database, table, column or grant is better found at deploy than at the first
        sign-in). A database that does not answer yet is only logged: lookups answer 503 until it
        does, and the readiness probe says why."""
        reason = await self._store.check()
        if reason is not None:
            logger.warning("the session database cannot be used yet: %s", reason)

    async def close(self) -> None:
        self._store.close()
        self._cache.clear()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def probe(self) -> str | None:
        """``None`` when a lookup works now; otherwise why not, in words safe to show anyone."""
        try:
            return await self._store.check()
        except SessionStoreMisconfigured as misconfigured:
            return misconfigured.reason

    async def current_user(self, credentials: SessionCredentials) -> User | None:
        token = self._token(credentials)
        if token is None:
            return None
        # Taken before the lookup, so that a session deleted during it is not remembered longer.
        looked_up_at = self._monotonic()
        user = self._cache.get(token, now_ms=self._now_ms(), monotonic=looked_up_at)
        if user is not None:
            return user
        row = await self._store.fetch(token)
        session = None if row is None else _session(row)
        # The library's test: the session has expired when ``expires`` is earlier than now.
        if session is None or session[1] < self._now_ms():
            return None
        user, expires_ms = session
        self._cache.put(token, user, expires_ms=expires_ms, monotonic=looked_up_at)
        return user

    def _token(self, credentials: SessionCredentials) -> str | None:
        """The session cookie's value, when it may be a session token."""
        try:
            found = find_session_token(credentials.cookies, self._names)
        except TokenRejected as rejected:
            logger.debug("No database session: %s", rejected)
            return None
        if found is None:
            return None
        if not self._may_be_token(found[1]):
            logger.debug("No database session: the cookie's value is not a session token")
            return None
        return found[1]

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000)


def _session(row: Row) -> tuple[User, int] | None:
    """The user and the expiry in Unix milliseconds, as JavaScript's ``Date`` holds it; ``None``,
    logged, for a row no adapter writes: an expiry that is no date, or a user without an id."""
    expires, user_id, name, email, image = row
    if not isinstance(expires, datetime.datetime):
        logger.warning("No database session: the session's expiry is not a date (%s)", type(expires).__name__)
        return None
    if expires.tzinfo is None:
        # A column without a time zone: every adapter writes UTC into one.
        expires = expires.replace(tzinfo=datetime.UTC)
    identifier = _text_id(user_id)
    if not identifier:
        logger.warning("No database session: the user's id is empty or not text, a number or a UUID")
        return None
    user = User(identifier, _text(name), _text(email), _text(image))
    return user, (expires - _EPOCH) // _MILLISECOND


def _text_id(value: object) -> str | None:
    """The id as the library's ``String(user.id)`` spells it: text, an integer, or a UUID in lower case."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return None


def _text(value: object) -> str | None:
    """A user attribute: text as it is, anything else (NULL) absent."""
    return value if isinstance(value, str) else None
