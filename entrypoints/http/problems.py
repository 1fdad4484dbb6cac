"""RFC 9457 problem details for every error an HTTP client can meet, each with a stable ``type``."""

import logging
import math
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException

from domain.errors import (
    EventBusUnavailable,
    EventNotAllowed,
    EventRejected,
    EventTooLarge,
    IdempotencyKeyReused,
    InvalidEvent,
    OutboxUnavailable,
    RateLimited,
    SessionStoreUnavailable,
    Unauthenticated,
)
from entrypoints.http.health import NotReady
from entrypoints.http.request_body import MalformedRequest
from entrypoints.http.request_guards import CookieHeaderTooLarge, CrossSiteRequest, UnsupportedMediaType

logger = logging.getLogger(__name__)

PROBLEM_TYPE_PREFIX = "urn:eventgate:problem:"
DEFAULT_RETRY_AFTER_SECONDS = 1


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_TYPE_PREFIX + slug,
        title=title,
        detail=detail,
        headers=headers,
        extra=extra,
    )


def _unauthenticated(error: Unauthenticated) -> ProblemDetailsException:
    return problem(
        401, "unauthenticated", "Not signed in", "This request carries no valid session: sign in to the app."
    )


def _session_store_unavailable(error: SessionStoreUnavailable) -> ProblemDetailsException:
    """Not a sign-out: the session could not be looked up, so the client should try again."""
    seconds = max(1, math.ceil(error.retry_after))
    logger.warning("a session could not be looked up: %s", error.reason)
    return problem(
        503,
        "session-store-unavailable",
        "Session store unavailable",
        f"The session could not be checked right now; nothing was recorded. Try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def _malformed_request(error: MalformedRequest) -> ProblemDetailsException:
    return problem(400, "malformed-request", "Malformed request", str(error))


def _invalid_event(error: InvalidEvent) -> ProblemDetailsException:
    if isinstance(error, EventTooLarge):
        return problem(
            413,
            "event-too-large",
            "Event too large",
            str(error),
            extra={"field": error.field, "limit": error.limit},
        )
    return problem(400, "invalid-event", "Invalid event", str(error), extra={"field": error.field})


def _event_bus_unavailable(error: EventBusUnavailable) -> ProblemDetailsException:
    """What the client can do (wait, then retry); why it failed is ours to read, in the log."""
    seconds = (
        DEFAULT_RETRY_AFTER_SECONDS if error.retry_after is None else max(1, math.ceil(error.retry_after))
    )
    if isinstance(error, OutboxUnavailable):
        slug, title, cannot = "outbox-unavailable", "Outbox unavailable", "events cannot be stored"
    else:
        slug, title, cannot = "event-bus-unavailable", "Event bus unavailable", "the event bus cannot take it"
    logger.warning("an event was not recorded (%s): %s", slug, error.reason)
    return problem(
        503,
        slug,
        title,
        f"The event was not recorded: {cannot} right now. Try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def _idempotency_key_reused(error: IdempotencyKeyReused) -> ProblemDetailsException:
    """``field`` names the first culprit, as for an invalid event; the detail names them all."""
    where = ", ".join(error.fields) or "the idempotency key"
    return problem(
        409,
        "idempotency-key-reused",
        "Idempotency key reused",
        f"{where}: already used for a different request (another name or data); nothing was recorded. "
        "A retry must repeat the request exactly; a new request needs a new key.",
        extra={"field": error.fields[0]} if error.fields else None,
    )


def _cross_site_request(error: CrossSiteRequest) -> ProblemDetailsException:
    return problem(403, "cross-site-request", "Cross-site request refused", str(error))


def _event_not_allowed(error: EventNotAllowed) -> ProblemDetailsException:
    return problem(
        403, "event-not-allowed", "Event name not allowed", str(error), extra={"field": error.field}
    )


def _unsupported_media_type(error: UnsupportedMediaType) -> ProblemDetailsException:
    return problem(415, "unsupported-media-type", "Unsupported media type", str(error))


def _cookie_header_too_large(error: CookieHeaderTooLarge) -> ProblemDetailsException:
    return problem(431, "cookie-too-large", "Cookie header too large", str(error))


def _rate_limited(error: RateLimited) -> ProblemDetailsException:
    retry_after = max(1, math.ceil(error.retry_after))
    return problem(
        429,
        "rate-limited",
        "Too many requests",
        f"The limit is {error.limit} requests per {error.period:g} s; try again in {retry_after} s.",
        headers={
            "Retry-After": str(retry_after),
            "RateLimit-Limit": str(error.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(max(1, math.ceil(error.reset_after))),
        },
    )


def _not_ready(error: NotReady) -> ProblemDetailsException:
    return problem(
        503,
        "not-ready",
        "Not ready",
        str(error),
        headers={"Retry-After": "5"},
        extra={"checks": error.failures},
    )


def _event_rejected(error: EventRejected) -> ProblemDetailsException:
    logger.warning("an event was not recorded (event-rejected): %s", error.reason)
    return problem(
        502,
        "event-rejected",
        "Event rejected by the bus",
        "The event was not recorded: the event bus refused it. Sending it again will not help.",
    )


def _http_exception(error: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (404, 405, a bad ``Content-Length``, ...) in the same format as ours.

    The type is the status's name (``bad-request``), stable whatever the detail says.
    """
    title = HTTPStatus(error.status_code).phrase
    slug = title.lower().replace(" ", "-")
    return problem(error.status_code, slug, title, error.detail or title, headers=error.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A bug of ours, never a client's fault: log it with its traceback and answer a plain 500."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        500, "internal-error", "Internal error", "eventgate failed unexpectedly; this was logged."
    ).to_response(request)


PROBLEM_MAP: Mapping[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    Unauthenticated: _unauthenticated,
    SessionStoreUnavailable: _session_store_unavailable,
    MalformedRequest: _malformed_request,
    InvalidEvent: _invalid_event,
    EventNotAllowed: _event_not_allowed,
    IdempotencyKeyReused: _idempotency_key_reused,
    RateLimited: _rate_limited,
    CrossSiteRequest: _cross_site_request,
    UnsupportedMediaType: _unsupported_media_type,
    CookieHeaderTooLarge: _cookie_header_too_large,
    EventBusUnavailable: _event_bus_unavailable,
    EventRejected: _event_rejected,
    NotReady: _not_ready,
    HTTPException: _http_exception,
}


def problem_details_config(max_body_bytes: int) -> ProblemDetailsConfig:
    def body_too_large(error: RequestEntityTooLarge) -> ProblemDetailsException:
        detail = f"The request body exceeds {max_body_bytes} bytes (EVENTGATE_MAX_BODY_BYTES)."
        return problem(
            413, "request-too-large", "Request body too large", detail, extra={"limit": max_body_bytes}
        )

    return ProblemDetailsConfig(
        exception_to_problem_detail_map={**PROBLEM_MAP, RequestEntityTooLarge: body_too_large}
    )
