"""Checks a request must pass before its body is read: where it comes from, what it carries.

``POST /api`` is authenticated by a cookie, which a browser attaches to requests other sites make.
A cross-site request is refused by what the browser says of it (``Sec-Fetch-Site``, ``Origin``),
and a body must be declared JSON, which a plain HTML form cannot send.
"""

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from litestar import Request
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


class RequestHeaders(NamedTuple):
    """The request headers ``POST /api`` reads, each as Litestar's ``Headers.get`` gives it: found
    whatever the case of its name, the first of repeated ones, decoded as latin-1; ``None`` if absent."""

    cookie: str | None
    origin: str | None
    sec_fetch_site: str | None
    content_type: str | None
    host: str | None
    authorization: str | None
    idempotency_key: str | None
    content_length: str | None
    transfer_encoding: str | None


_HEADER_FIELDS = {
    name.replace("_", "-").encode("latin-1"): i for i, name in enumerate(RequestHeaders._fields)
}
_STATE_KEY = "eventgate.request_headers"


def read_request_headers(raw: Iterable[tuple[bytes, bytes]]) -> RequestHeaders:
    """One pass over the raw ASGI headers, without building Litestar's ``Headers`` (a multidict of
    every header) for the few this route reads. Servers send lowercase names: those are looked up as
    they are, any other after lowering."""
    values: list[str | None] = [None] * len(_HEADER_FIELDS)
    field = _HEADER_FIELDS.get
    for name, value in raw:
        index = field(name)
        if index is None:
            index = field(name.lower())
            if index is None:
                continue
        if values[index] is None:
            values[index] = value.decode("latin-1")
    return RequestHeaders._make(values)


def request_headers(scope: Scope) -> RequestHeaders:
    """The request's ``RequestHeaders``, read once per request and kept in its scope's state for
    the check and the handler."""
    state = scope.setdefault("state", {})
    headers: RequestHeaders | None = state.get(_STATE_KEY)
    if headers is None:
        headers = state[_STATE_KEY] = read_request_headers(scope["headers"])
    return headers


def request_check(policy: OriginPolicy) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The checks, as a ``before_request`` hook: it runs where a guard would, before the handler
    and its arguments, but without the copy of the route handler Litestar makes for every guard call."""

    async def check(request: Request[Any, Any, Any]) -> None:
        """Asynchronous on purpose: Litestar runs a synchronous hook in a worker thread.

        ``OPTIONS`` (Litestar's own answer, ``Allow``) carries no body and records nothing: it is
        not checked.
        """
        scope = request.scope
        if scope["method"] == "OPTIONS":
            return
        check_request(policy, scope, request_headers(scope))

    return check


def check_request(policy: OriginPolicy, scope: Scope, headers: RequestHeaders) -> None:
    """Raise unless the request may be read: a ``Cookie`` header of sane size, a caller the browser
    does not mark as another site, and a body declared JSON (a ``POST`` with no body needs no
    ``Content-Type``: it asks for the default event)."""
    cookie = headers.cookie
    if cookie is not None and len(cookie) > MAX_COOKIE_HEADER_BYTES:
        raise CookieHeaderTooLarge(
            f"the Cookie header has {len(cookie)} bytes; at most {MAX_COOKIE_HEADER_BYTES} are read"
        )
    policy.check(headers.origin, headers.sec_fetch_site, own_origin(scope, headers.host))
    if not is_json_media_type(headers.content_type) and not has_no_body(headers):
        raise UnsupportedMediaType("send the body as Content-Type: application/json")


def has_no_body(headers: RequestHeaders) -> bool:
    """``Content-Length: 0``, or neither a length nor a chunked body announced."""
    if headers.transfer_encoding is not None:
        return False
    return headers.content_length is None or headers.content_length.strip() == "0"


def own_origin(scope: Scope, host: str | None) -> str:
    """``scheme://host`` of the service as this request reached it (``host`` its ``Host`` header);
    the scheme as ``request.url`` has it (empty without a server in the scope), without building the whole URL."""
    scheme = scope.get("scheme", "http") if scope.get("server") else ""
    return f"{scheme}://{host or ''}"
