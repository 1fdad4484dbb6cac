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


def _cookies(header: str, *, unquote: bool) -> dict[str, str]:
    cookies: dict[str, str] = {}
    if len(header) < 2:
        return cookies
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        if not equals:
            continue
        name = name.strip(" \t")
        if name in cookies:
            continue
        value = value.strip(" \t")
        if unquote and value[:1] == '"' == value[-1:]:
            value = value[1:-1]
        cookies[name] = _decoded(value) if "%" in value else value
    return cookies


def _decoded(value: str) -> str:
    try:
        return decode_uri_component(value)
    except ValueError:
        return value


@lru_cache(maxsize=_REMEMBERED_HEADERS)
def parse_cookie_header_v4(header: str) -> Mapping[str, str]:
    """The cookies next-auth v4 finds in ``header``: ``cookie.parse`` of ``cookie`` 0.7."""
    cookies = _cookies(header, unquote=True)
    cookies.pop("__proto__", None)
    return cookies


@lru_cache(maxsize=_REMEMBERED_HEADERS)
def parse_cookie_header_v5(header: str) -> Mapping[str, str]:
    """The cookies Auth.js v5 finds in ``header``: ``parse`` of ``@auth/core``'s copy of ``cookie`` 1.0."""
    return _cookies(header, unquote=False)


def cookie_parser(version: Version) -> CookieParser:
    """How the app's NextAuth ``version`` reads a ``Cookie`` header."""
    return parse_cookie_header_v4 if version == 4 else parse_cookie_header_v5
