"""``SessionPort`` for a Next.js app signed in with NextAuth: the user its session cookie proves."""

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from adapters.nextauth import codec
from adapters.nextauth.claims import check_not_before, check_not_expired, numeric_date, session_user
from adapters.nextauth.cookie_parsing import decode_uri_component
from adapters.nextauth.cookies import find_session_token, session_cookie_names
from adapters.nextauth.errors import ExpiredToken, MalformedToken, NoSessionCookie, TokenRejected
from adapters.nextauth.keys import Version, keyring
from adapters.nextauth.settings import NextAuthSettings
from application.ports import SessionCredentials
from domain.user import User

_log = logging.getLogger("adapters.nextauth")
# Two cookies' worth of token and a generous user: a bigger session is checked in full every time.
MAX_MEMOIZED_TOKEN_LENGTH = 8192
MAX_MEMOIZED_USER_LENGTH = 1024


class _Verified(NamedTuple):
    """A token that proved ``user``: all that can change its answer is the clock, against these."""

    user: User
    nbf: int | float | None
    exp: int | float | None


class NextAuthSession:
    """Reads the session as the app's ``getServerSession()`` (v4) or ``auth()`` (v5) would.

    ``secrets`` are the app's ``NEXTAUTH_SECRET``/``AUTH_SECRET``, newest first. The cookie is
    ``cookie_name`` if given; otherwise the default name, ``__Secure-`` prefixed if
    ``secure_cookie``, plain if not, and either, the secure one first, when ``None``: the app picks
    by whether its URL is https, which this service does not know. With ``allow_bearer``, a request
    without a session cookie may carry the token as ``Authorization: Bearer <token>``, as
    ``getToken()`` allows. ``clock`` gives Unix time in seconds.

    A request whose token is absent, expired, changed, made with another secret or for another
    cookie, or malformed proves nobody: ``current_user`` returns ``None`` and logs why at debug
    level, never the token. All keys are derived here, none per request.

    A browser sends the same token with every request, and decrypting and checking it is most of
    the cost of reading the session, so up to ``memo_size`` tokens (0: none) that proved a user
    are memoized with the user, ``nbf`` and ``exp``: the same token in the same cookie (v5 keys
    depend on its name), or as a bearer token, is then only held against the clock. A token that
    proves nobody is never memoized, so a forged one always costs the full check and evicts
    nothing; when full, the one memoized first goes. Neither a token longer than
    ``MAX_MEMOIZED_TOKEN_LENGTH`` nor a user whose strings are longer than
    ``MAX_MEMOIZED_USER_LENGTH`` in all is memoized, so an entry takes at most about 13 KiB (the
    user's strings may take 4 bytes a character): 13 MiB at the default size, and about 2 MiB
    for sessions of 1 kB.
    """

    def __init__(
        self,
        secrets: Sequence[str],
        version: Version,
        *,
        cookie_name: str | None = None,
        secure_cookie: bool | None = None,
        allow_bearer: bool = False,
        clock: Callable[[], float] = time.time,
        memo_size: int = 1024,
    ) -> None:
        if memo_size < 0:
            raise ValueError("memo_size must not be negative")
        self._names = session_cookie_names(version, cookie_name, secure_cookie)
        self._keyrings = {name: keyring(version, tuple(secrets), name) for name in self._names}
        self._every_keyring = tuple(self._keyrings.values())
        self._allow_bearer = allow_bearer
        self._clock = clock
        self._memo_size = memo_size
        # (cookie name, or None for a bearer token; token) -> what it proved. An OrderedDict drops its
        # oldest entry in O(1); a dict finds its first key past the holes earlier deletions left.
        self._memo: OrderedDict[tuple[str | None, str], _Verified] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: NextAuthSettings) -> "NextAuthSession":
        """The session the app's settings describe: its version, secrets, cookie name and bearer rule."""
        return cls(
            settings.secrets(),
            settings.version,
            cookie_name=settings.session_cookie_name,
            allow_bearer=settings.allow_bearer,
        )

    @property
    def memo_entries(self) -> int:
        """How many tokens are memoized now."""
        return len(self._memo)

    async def current_user(self, credentials: SessionCredentials) -> User | None:
        try:
            user = self._user(credentials)
        except TokenRejected as rejected:
            _log.debug("No NextAuth session (%s): %s", rejected.reason, rejected)
            return None
        if user is None:
            _log.debug("No NextAuth session: the token has no string subject")
        return user

    def _user(self, credentials: SessionCredentials) -> User | None:
        key = self._token(credentials)
        now = math.floor(self._clock())
        verified = self._memo.get(key)
        if verified is not None:
            try:
                check_not_before(verified.nbf, now)
                check_not_expired(verified.exp, now)
            except ExpiredToken:
                del self._memo[key]
                raise
            return verified.user
        source, token = key
        keyrings = self._every_keyring if source is None else (self._keyrings[source],)
        claims = codec.decode(token, keyrings, now=now)
        user = session_user(claims)
        if user is not None and self._memo_size and _small_enough(token, user):
            if len(self._memo) == self._memo_size:
                self._memo.popitem(last=False)
            self._memo[key] = _Verified(user, numeric_date(claims, "nbf"), numeric_date(claims, "exp"))
        return user

    def _token(self, credentials: SessionCredentials) -> tuple[str | None, str]:
        """The cookie the token came in, or ``None`` for a bearer token, and the token."""
        found = find_session_token(credentials.cookies, self._names)
        if found is not None:
            return found
        if self._allow_bearer:
            return None, _bearer_token(credentials.authorization)
        raise NoSessionCookie("the request has no session cookie")


def _small_enough(token: str, user: User) -> bool:
    """Whether a session fits the memo's bound on an entry's size."""
    if len(token) > MAX_MEMOIZED_TOKEN_LENGTH:
        return False
    strings = (user.id, user.name, user.email, user.image)
    return sum(len(value) for value in strings if value is not None) <= MAX_MEMOIZED_USER_LENGTH


def _bearer_token(authorization: str | None) -> str:
    """``getToken()``'s fallback: the word after ``Bearer `` (split on single spaces), percent-decoded."""
    words = (authorization or "").strip(" \t").split(" ")
    if words[0] != "Bearer" or len(words) < 2 or not words[1]:
        raise NoSessionCookie("the request has no session cookie and no bearer token")
    try:
        return decode_uri_component(words[1])
    except ValueError as error:
        raise MalformedToken("the bearer token's percent-escapes are malformed") from error
