"""The session cookie: its names, the chunks a large token is split into, and the header they make.

``cookie_parsing`` reads a ``Cookie`` header as the app's library does."""

import re
from collections.abc import Iterable, Mapping, Sequence

from adapters.nextauth.errors import MalformedToken
from adapters.nextauth.keys import Version

_BASE_NAMES: Mapping[Version, str] = {4: "next-auth.session-token", 5: "authjs.session-token"}
SECURE_PREFIX = "__Secure-"
# Each library splits a token into chunks of 4096 bytes minus its estimate of a cookie's attributes.
CHUNK_SIZES: Mapping[Version, int] = {4: 4096 - 163, 5: 4096 - 160}
_CHUNK_SUFFIX = re.compile(r"\.([0-9]+)")


def default_cookie_name(version: Version, *, secure: bool) -> str:
    """The session cookie's name: ``__Secure-`` prefixed when the app's URL is https."""
    return SECURE_PREFIX + _BASE_NAMES[version] if secure else _BASE_NAMES[version]


def session_cookie_names(version: Version, cookie_name: str | None, secure: bool | None) -> tuple[str, ...]:
    """The names to look for, in order: ``cookie_name`` if set, else the default name, both when
    ``secure`` is ``None``. The secure name comes first: only an https app can have set it."""
    if cookie_name is not None:
        return (cookie_name,)
    if secure is None:
        return default_cookie_name(version, secure=True), default_cookie_name(version, secure=False)
    return (default_cookie_name(version, secure=secure),)


def find_session_token(cookies: Mapping[str, str], names: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``names`` whose cookies hold a token, with that token, or ``None``."""
    for name in names:
        token = join_chunks(cookies, name)
        if token:
            return name, token
    return None


def join_chunks(cookies: Mapping[str, str], name: str) -> str:
    """The token held by the non-empty cookies whose names start with ``name``, as NextAuth reads it.

    NextAuth's ``SessionStore`` concatenates all of them, ordered by the number after the last dot:
    ``<name>`` alone, or ``<name>.0``, ``<name>.1``, ... ``<name>.10`` in numeric order. When a
    ``<name>`` cookie and chunks are both present, or a cookie's name has no number after the
    dot, the library's order is undefined and what it joins is never a valid token; that is
    refused here as malformed.
    """
    token = ""
    for cookie, value in cookies.items():
        if value and cookie.startswith(name):
            if token:
                return _join_numbered_chunks(cookies, name)
            token = value
    return token


def _join_numbered_chunks(cookies: Mapping[str, str], name: str) -> str:
    parts = [(cookie, value) for cookie, value in cookies.items() if value and cookie.startswith(name)]
    numbered: list[tuple[int, str]] = []
    for cookie, value in parts:
        suffix = _CHUNK_SUFFIX.fullmatch(cookie, len(name))
        if suffix is None:
            raise MalformedToken("the session cookie is present both whole and in chunks, or oddly named")
        numbered.append((int(suffix.group(1)), value))
    numbered.sort(key=lambda chunk: chunk[0])
    return "".join(value for _, value in numbered)


def chunk_cookies(name: str, token: str, version: Version) -> list[tuple[str, str]]:
    """The cookies the library sets for ``token``: one named ``name``, or ``<name>.<i>`` chunks."""
    size = CHUNK_SIZES[version]
    if len(token) <= size:
        return [(name, token)]
    return [
        (f"{name}.{index}", token[start : start + size])
        for index, start in enumerate(range(0, len(token), size))
    ]


def cookie_header(cookies: Iterable[tuple[str, str]]) -> str:
    """A ``Cookie`` header value carrying ``cookies``, in order."""
    return "; ".join(f"{name}={value}" for name, value in cookies)
