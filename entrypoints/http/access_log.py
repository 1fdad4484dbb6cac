"""One log line per request, under the id the edge gave it, built only when it is written."""

import logging

from entrypoints.http.edge import Exchange

logger = logging.getLogger("eventgate.access")


def log_exchange(exchange: Exchange) -> None:
    """At info: method, path, status, duration, the user and events, and the outcome (``ok`` or a problem)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    status = exchange.status
    logger.info(
        "%s %s %d",
        exchange.method,
        exchange.path,
        status,
        extra={
            "request_id": exchange.request_id,
            "method": exchange.method,
            "path": exchange.path,
            "status": status,
            "duration_ms": round(exchange.seconds * 1000, 2),
            "user_id": exchange.user_id,
            "event_ids": exchange.event_ids,
            "outcome": "ok" if status < 400 else exchange.problem_type or f"http-{status}",
        },
    )
