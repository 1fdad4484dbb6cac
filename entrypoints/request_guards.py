"""Checks a request must pass before its body is read: where it comes from, what it carries.

``POST /api`` is authenticated by a cookie, which a browser attaches to requests other sites make.
A cross-site request is refused by what the browser says of it (``Sec-Fetch-Site``, ``Origin``),
and a body must be declared JSON, which a plain HTML form cannot send.
"""

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import Headers
from litestar.types import Scope

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


def request_check(policy: OriginPolicy) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The checks, as a ``before_request`` hook: it runs where a guard would, before the handler
    and its arguments, but without the copy of the route handler Litestar makes for every guard call."""

    async def check(request: Request[Any, Any, Any]) -> None:
        """Asynchronous on purpose: Litestar runs a synchronous hook in a worker thread."""
        headers = request.headers
        cookie = headers.get("cookie")
        if cookie is not None and len(cookie) > MAX_COOKIE_HEADER_BYTES:
            raise CookieHeaderTooLarge(
                f"the Cookie header has {len(cookie)} bytes; at most {MAX_COOKIE_HEADER_BYTES} are read"
            )
        policy.check(headers.get("origin"), headers.get("sec-fetch-site"), own_origin(request.scope, headers))
        if not is_json_media_type(headers.get("content-type")):
            raise UnsupportedMediaType("send the body as Content-Type: application/json")

    return check


def own_origin(scope: Scope, headers: Headers) -> str:
    """``scheme://host`` of the service as this request reached it; the scheme as ``request.url`` has
    it (empty without a server in the scope), without building the whole URL."""
    scheme = scope.get("scheme", "http") if scope.get("server") else ""
    return f"{scheme}://{headers.get('host', '')}"
