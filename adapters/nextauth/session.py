"""``SessionPort`` for a Next.js app signed in with NextAuth: the user its session cookie proves."""

import logging
import math
import time
from collections.abc import Callable, Sequence

from adapters.nextauth import codec
from adapters.nextauth.claims import session_user
from adapters.nextauth.cookies import decode_uri_component, find_session_token, session_cookie_names
from adapters.nextauth.errors import MalformedToken, NoSessionCookie, TokenRejected
from adapters.nextauth.keys import Keyring, Version, keyring
from application.ports import SessionCredentials
from domain.event import JsonValue
from domain.user import User

_log = logging.getLogger("adapters.nextauth")


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
    ) -> None:
        self._names = session_cookie_names(version, cookie_name, secure_cookie)
        self._keyrings = {name: keyring(version, tuple(secrets), name) for name in self._names}
        self._allow_bearer = allow_bearer
        self._clock = clock

    async def current_user(self, credentials: SessionCredentials) -> User | None:
        try:
            claims = self._claims(credentials)
        except TokenRejected as rejected:
            _log.debug("No NextAuth session (%s): %s", rejected.reason, rejected)
            return None
        user = session_user(claims)
        if user is None:
            _log.debug("No NextAuth session: the token has no string subject")
        return user

    def _claims(self, credentials: SessionCredentials) -> dict[str, JsonValue]:
        found = find_session_token(credentials.cookies, self._names)
        keyrings: Sequence[Keyring]
        if found is not None:
            name, token = found
            keyrings = (self._keyrings[name],)
        elif self._allow_bearer:
            token = _bearer_token(credentials.authorization)
            keyrings = tuple(self._keyrings.values())
        else:
            raise NoSessionCookie("the request has no session cookie")
        return codec.decode(token, keyrings, now=math.floor(self._clock()))


def _bearer_token(authorization: str | None) -> str:
    """``getToken()``'s fallback: the word after ``Bearer `` (split on single spaces), percent-decoded."""
    words = (authorization or "").strip(" \t").split(" ")
    if words[0] != "Bearer" or len(words) < 2 or not words[1]:
        raise NoSessionCookie("the request has no session cookie and no bearer token")
    try:
        return decode_uri_component(words[1])
    except ValueError as error:
        raise MalformedToken("the bearer token's percent-escapes are malformed") from error
