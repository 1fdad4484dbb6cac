"""Session cookies for the command line: mint one as the app would, or say what one holds."""

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.nextauth import codec
from adapters.nextauth.claims import session_user
from adapters.nextauth.cookie_parsing import cookie_parser
from adapters.nextauth.cookies import (
    chunk_cookies,
    cookie_header,
    default_cookie_name,
    find_session_token,
    session_cookie_names,
)
from adapters.nextauth.errors import FailureReason, NoSessionCookie, TokenRejected
from adapters.nextauth.keys import Version, keyring
from domain.event import JsonValue
from domain.user import User


@dataclass(frozen=True, slots=True)
class DecodedSession:
    """A session cookie that the app would accept; ``user`` is ``None`` when its token has no ``sub``."""

    cookie_name: str
    claims: dict[str, JsonValue]
    user: User | None

    def to_dict(self) -> dict[str, JsonValue]:
        """``{"user": {...} or None, "claims": {...}}``, ready to print as JSON."""
        user: dict[str, JsonValue] | None = None if self.user is None else {**self.user.to_event_data()}
        return {"user": user, "claims": self.claims}


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why no session was found; ``detail`` explains it in words that never include the token."""

    reason: FailureReason
    detail: str


def mint_session_cookie(
    secret: str,
    version: Version,
    claims: Mapping[str, JsonValue],
    *,
    max_age: int = codec.DEFAULT_MAX_AGE_SECONDS,
    cookie_name: str | None = None,
    now: float | None = None,
) -> str:
    """The ``Cookie`` header value of a session the app would accept, chunked as the library chunks it.

    ``claims`` are what NextAuth's ``jwt`` callback returns (see ``claims_for_user``); ``iat``,
    ``exp`` (``max_age`` seconds on) and ``jti`` are added. ``cookie_name`` defaults to the
    version's plain name; v5 keys depend on it, so pass the ``__Secure-`` name for an https app.
    """
    name = default_cookie_name(version, secure=False) if cookie_name is None else cookie_name
    issued_at = math.floor(time.time() if now is None else now)
    token = codec.encode(claims, keyring(version, (secret,), name), max_age=max_age, now=issued_at)
    return cookie_header(chunk_cookies(name, token, version))


def decode_session_cookie(
    cookie_header: str,
    secrets: Sequence[str],
    version: Version,
    *,
    cookie_name: str | None = None,
    now: float | None = None,
) -> DecodedSession | DecodeFailure:
    """What the session cookie in ``cookie_header`` holds, checked as the app would check it at ``now``.

    The header is read as eventgate reads it (``cookie_parser``). Without ``cookie_name`` both the ``__Secure-``
    and the plain default name are looked for.
    """
    names = session_cookie_names(version, cookie_name, None)
    try:
        found = find_session_token(cookie_parser(version)(cookie_header), names)
        if found is None:
            raise NoSessionCookie("the header has no session cookie with a value")
        name, token = found
        at = math.floor(time.time() if now is None else now)
        claims = codec.decode(token, (keyring(version, tuple(secrets), name),), now=at)
    except TokenRejected as rejected:
        return DecodeFailure(rejected.reason, str(rejected))
    return DecodedSession(name, claims, session_user(claims))
