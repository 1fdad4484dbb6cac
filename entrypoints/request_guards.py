"""Checks a request must pass before its body is read: where it comes from, what it carries.

``POST /api`` is authenticated by a cookie, which a browser attaches to requests other sites make.
A cross-site request is refused by what the browser says of it (``Sec-Fetch-Site``, ``Origin``),
and a body must be declared JSON, which a plain HTML form cannot send.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

MAX_COOKIE_HEADER_BYTES = 16 * 1024
"""Room for three chunks of a NextAuth session (about 12.3 KB) and the app's other cookies."""


class CrossSiteRequest(Exception):
    """The browser says another site made this request."""


class UnsupportedMediaType(Exception):
    """The body is not declared as JSON."""


class CookieHeaderTooLarge(Exception):
    """The Cookie header is larger than any session needs."""


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The origins (``scheme://host[:port]``) allowed to call, besides the service's own."""

    allowed_origins: Collection[str] = ()

    def check(self, origin: str | None, fetch_site: str | None, own_origin: str) -> None:
        if fetch_site is not None and fetch_site.strip().lower() == "cross-site":
            raise CrossSiteRequest("the browser marked this request cross-site (Sec-Fetch-Site)")
        if origin is None or origin == own_origin or origin in self.allowed_origins:
            return
        raise CrossSiteRequest(f"origin {origin!r} is not allowed (EVENTGATE_ALLOWED_ORIGINS)")


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json``, in any case, with or without parameters such as ``charset``."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


def request_guards(policy: OriginPolicy) -> list[Guard]:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        """Asynchronous on purpose: Litestar runs a synchronous guard in a worker thread."""
        headers = connection.headers
        cookie = headers.get("cookie")
        if cookie is not None and len(cookie) > MAX_COOKIE_HEADER_BYTES:
            raise CookieHeaderTooLarge(
                f"the Cookie header has {len(cookie)} bytes; at most {MAX_COOKIE_HEADER_BYTES} are read"
            )
        scheme, host = connection.url.scheme, headers.get("host", "")
        policy.check(headers.get("origin"), headers.get("sec-fetch-site"), f"{scheme}://{host}")
        if not is_json_media_type(headers.get("content-type")):
            raise UnsupportedMediaType("send the body as Content-Type: application/json")

    return [guard]
