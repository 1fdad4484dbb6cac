"""One log line per request, under a request id the caller may choose (``X-Request-ID``) and gets back."""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from domain.event_ids import new_event_id

logger = logging.getLogger("eventgate.access")

_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh one: ids end up in logs."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            if _ACCEPTABLE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return new_event_id().replace("-", "")


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    method: str
    path: str
    status: int
    problem_type: str | None
    event_ids: list[str]


class AccessLog:
    """ASGI middleware: tags the request with its id, echoes it, and logs the outcome when it ends.

    The handler may leave ``user_id`` and ``event_ids`` in the request state; the problem type of
    an error answer becomes the ``outcome``, which ``observe`` (the metrics) also receives.
    """

    def __init__(self, app: ASGIApp, observe: Callable[[RequestOutcome], None] | None = None) -> None:
        self._app = app
        self._observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        request_id = request_id_from(list(scope["headers"]))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "problem": None}

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                headers["x-request-id"] = request_id
                seen["problem"] = headers.get("content-type") == "application/problem+json"
            elif message["type"] == "http.response.body" and seen["problem"] is True:
                seen["problem"] = _problem_type(message.get("body", b""))
            await send(message)

        method = scope["method"]
        try:
            await self._app(scope, receive, send_tagged)
        finally:
            status = seen["status"]
            problem_type = seen["problem"] or None
            if self._observe is not None:
                self._observe(
                    RequestOutcome(method, scope["path"], status, problem_type, state.get("event_ids") or [])
                )
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": state.get("user_id"),
                        "event_ids": state.get("event_ids"),
                        "outcome": "ok" if status < 400 else problem_type or f"http-{status}",
                    },
                )


def _problem_type(body: bytes) -> str | None:
    """The slug of a problem body's ``type`` (``urn:eventgate:problem:<slug>``), read without parsing JSON."""
    marker = b'"type":"urn:eventgate:problem:'
    start = body.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = body.find(b'"', start)
    return body[start:end].decode("ascii", "replace") if end > 0 else None
