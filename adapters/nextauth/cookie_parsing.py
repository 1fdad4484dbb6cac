"""The ``Cookie`` header, read exactly as the app's session library reads it.

Where two cookies share a name (a cookie planted from a sibling subdomain, sent beside the app's own),
the user eventgate records an event for must be the one the app sees. next-auth v4 reads cookies with
the npm ``cookie`` package, 0.7; Auth.js v5 (``@auth/core``) with its own copy of ``cookie`` 1.0. Both:

- split the header on ``;`` and skip a part without ``=``; a header of fewer than two characters holds
  no cookie;
- trim spaces and tabs, and nothing else, around names and values; a name may be empty;
- keep the *first* cookie of a name;
- decode a value holding ``%`` as JavaScript's ``decodeURIComponent`` does, and keep it as sent when
  that fails.

They differ in two things: ``cookie`` 0.7 removes a pair of double quotes around a value and never
keeps a cookie named ``__proto__`` (it fills a plain JavaScript object); ``@auth/core`` does neither.

But an app does not always read through its session library: a next-auth v4 app on the App Router
hands ``getServerSession`` the cookies Next.js parsed, where the *last* cookie of a name wins. So
``cookie_parser`` reads a name sent twice with two different values as no cookie at all: whichever
reading the app makes, eventgate never attributes an event to a user the app may not see (the
request is then unauthenticated). ``library_cookie_parser`` is the library's own reading.

A browser sends the same header with every request, so the last headers read are remembered; what
is returned is shared between the requests that sent the same header, and must not be changed.
"""

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final
from urllib.parse import unquote_to_bytes

from adapters.nextauth.keys import Version

CookieParser = Callable[[str], Mapping[str, str]]

_REMEMBERED_HEADERS: Final = 1024
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_uri_component(text: str) -> str:
    """JavaScript's ``decodeURIComponent``: ``ValueError`` for a stray ``%`` or escapes that are not UTF-8."""
    if _STRAY_PERCENT.search(text):
        raise ValueError("a % that starts no escape")
    return unquote_to_bytes(text).decode("utf-8")


def _cookies(header: str, *, unquote: bool, ambiguous_as_absent: bool) -> dict[str, str]:
    """The first cookie of each name; with ``ambiguous_as_absent``, none of a name sent with two values."""
    cookies: dict[str, str] = {}
    if len(header) < 2:
        return cookies
    ambiguous: set[str] = set()
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        if not equals:
            continue
        name = name.strip(" \t")
        if name in cookies and not ambiguous_as_absent:
            continue
        value = value.strip(" \t")
        if unquote and value[:1] == '"' == value[-1:]:
            value = value[1:-1]
        value = _decoded(value) if "%" in value else value
        if name not in cookies:
            cookies[name] = value
        elif cookies[name] != value:
            ambiguous.add(name)
    for name in ambiguous:
        del cookies[name]
    return cookies


def _decoded(value: str) -> str:
    try:
        return decode_uri_component(value)
    except ValueError:
        return value


def _v4_cookies(header: str, *, ambiguous_as_absent: bool) -> dict[str, str]:
    cookies = _cookies(header, unquote=True, ambiguous_as_absent=ambiguous_as_absent)
    cookies.pop("__proto__", None)
    return cookies


def parse_cookie_header_v4(header: str) -> Mapping[str, str]:
    """The cookies next-auth v4 finds in ``header``: ``cookie.parse`` of ``cookie`` 0.7."""
    return _v4_cookies(header, ambiguous_as_absent=False)


def parse_cookie_header_v5(header: str) -> Mapping[str, str]:
    """The cookies Auth.js v5 finds in ``header``: ``parse`` of ``@auth/core``'s copy of ``cookie`` 1.0."""
    return _cookies(header, unquote=False, ambiguous_as_absent=False)


@lru_cache(maxsize=_REMEMBERED_HEADERS)
def read_cookie_header_v4(header: str) -> Mapping[str, str]:
    """``parse_cookie_header_v4``, less every name sent with two different values."""
    return _v4_cookies(header, ambiguous_as_absent=True)


@lru_cache(maxsize=_REMEMBERED_HEADERS)
def read_cookie_header_v5(header: str) -> Mapping[str, str]:
    """``parse_cookie_header_v5``, less every name sent with two different values."""
    return _cookies(header, unquote=False, ambiguous_as_absent=True)


def library_cookie_parser(version: Version) -> CookieParser:
    """How the app's NextAuth ``version`` itself reads a ``Cookie`` header: the first cookie of a name wins."""
    return parse_cookie_header_v4 if version == 4 else parse_cookie_header_v5


def cookie_parser(version: Version) -> CookieParser:
    """How eventgate reads a ``Cookie`` header for the app's NextAuth ``version``: as the library does,
    but a name sent with two different values is absent, since apps disagree on which one wins."""
    return read_cookie_header_v4 if version == 4 else read_cookie_header_v5
