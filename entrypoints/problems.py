"""RFC 9457 problem details for every error an HTTP client can meet, each with a stable ``type``."""

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException

from domain.errors import EventBusUnavailable, EventRejected, EventTooLarge, InvalidEvent, Unauthenticated
from entrypoints.request_body import MalformedRequest

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
    seconds = (
        DEFAULT_RETRY_AFTER_SECONDS if error.retry_after is None else max(1, math.ceil(error.retry_after))
    )
    return problem(
        503,
        "event-bus-unavailable",
        "Event bus unavailable",
        f"The event was not recorded: {error.reason}. Try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def _event_rejected(error: EventRejected) -> ProblemDetailsException:
    return problem(
        502, "event-rejected", "Event rejected by the bus", f"The event was not recorded: {error.reason}."
    )


def _http_exception(error: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (404, 405, body too large, ...) in the same format as ours."""
    title = error.detail or "Error"
    slug = title.lower().replace(" ", "-")
    return problem(error.status_code, slug, title, title, headers=error.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A bug of ours, never a client's fault: log it with its traceback and answer a plain 500."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        500, "internal-error", "Internal error", "eventgate failed unexpectedly; this was logged."
    ).to_response(request)


PROBLEM_MAP: Mapping[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    Unauthenticated: _unauthenticated,
    MalformedRequest: _malformed_request,
    InvalidEvent: _invalid_event,
    EventBusUnavailable: _event_bus_unavailable,
    EventRejected: _event_rejected,
    HTTPException: _http_exception,
}


def problem_details_config() -> ProblemDetailsConfig:
    return ProblemDetailsConfig(exception_to_problem_detail_map=PROBLEM_MAP)
