"""One log line per request, under the id the edge gave it, built only when it is written.

With eventgate's own JSON log handler in place (``eventgate serve``: standard error is not a
terminal), the line is encoded by msgspec straight from the exchange and queued to the handler's
writer thread: no ``LogRecord``, no ``logging.Formatter``, no ``json.dumps`` on the event loop. It has
the shape of every other JSON line (``ts``, ``level``, ``logger``, ``message``, then the fields).
Otherwise (console lines for a person at a terminal, a test's handler) it is an ordinary info record
of ``eventgate.access`` with the same fields.
"""

import json
import logging
import time
from collections.abc import Callable

import msgspec

from entrypoints.composition.logs import UtcTimestamps, line_handler
from entrypoints.http.edge import Exchange, Observer

ACCESS_LOGGER = "eventgate.access"
logger = logging.getLogger(ACCESS_LOGGER)


class AccessLine(msgspec.Struct, gc=False):
    """The JSON access line, its fields in the order ``JsonFormatter`` writes a record with them."""

    ts: str
    level: str
    logger: str
    message: str
    request_id: str
    method: str
    path: str
    status: int
    duration_ms: float
    user_id: str | None
    event_ids: list[str] | None
    outcome: str


def outcome_of(exchange: Exchange) -> str:
    """``ok`` below 400, else the problem type, else ``http-<status>``."""
    status = exchange.status
    return "ok" if status < 400 else exchange.problem_type or f"http-{status}"


def duration_ms(exchange: Exchange) -> float:
    """The exchange's duration in milliseconds, to two decimals (rounded half up: ``round(x, 2)`` goes
    through a decimal string, at several times the cost)."""
    return int(exchange.seconds * 100_000 + 0.5) / 100


def log_exchange(exchange: Exchange) -> None:
    """At info: method, path, status, duration, the user and events, and the outcome (``ok`` or a problem)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        "%s %s %d",
        exchange.method,
        exchange.path,
        exchange.status,
        extra={
            "request_id": exchange.request_id,
            "method": exchange.method,
            "path": exchange.path,
            "status": exchange.status,
            "duration_ms": duration_ms(exchange),
            "user_id": exchange.user_id,
            "event_ids": exchange.event_ids,
            "outcome": outcome_of(exchange),
        },
    )


class JsonAccessLog:
    """The access log as JSON lines handed to ``write`` (one line, no newline, per exchange)."""

    def __init__(self, write: Callable[[bytes], None], *, clock: Callable[[], float] = time.time) -> None:
        self._write = write
        self._clock = clock
        self._timestamp = UtcTimestamps()
        self._encode = msgspec.json.Encoder().encode

    def __call__(self, exchange: Exchange) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        line = self.line(exchange)
        try:
            encoded = self._encode(line)
        except UnicodeEncodeError:
            # A lone surrogate (a user id from a JSON token): escaped, as json.dumps escapes it.
            encoded = json.dumps(msgspec.to_builtins(line), ensure_ascii=True).encode()
        self._write(encoded)

    def line(self, exchange: Exchange) -> AccessLine:
        method, path, status = exchange.method, exchange.path, exchange.status
        return AccessLine(
            self._timestamp(self._clock()),
            "info",
            ACCESS_LOGGER,
            f"{method} {path} {status}",
            exchange.request_id,
            method,
            path,
            status,
            duration_ms(exchange),
            exchange.user_id,
            exchange.event_ids,
            outcome_of(exchange),
        )


def access_log() -> Observer:
    """The access log for this process: JSON lines straight to eventgate's own handler when it writes
    JSON, records of ``eventgate.access`` otherwise."""
    handler = line_handler()
    if handler is None or not handler.writes_json:
        return log_exchange
    return JsonAccessLog(handler.writer.write_soon)
