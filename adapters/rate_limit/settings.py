"""How many requests a user, or a client without a session, may make; and where the counts live."""

from typing import Annotated

import msgspec
from msgspec import Meta

from adapters.secret import Secret
from application.rate_policy import Rate


def parse_rate(text: str) -> Rate | None:
    """``off``, or ``N/S``: at most N requests per S seconds (after a burst of N)."""
    if text.strip().lower() == "off":
        return None
    count, _, seconds = text.partition("/")
    try:
        limit, period = int(count), float(seconds)
    except ValueError:
        raise ValueError("must be off or REQUESTS/SECONDS, such as 120/60") from None
    if limit <= 0 or not 0 < period < float("inf"):
        raise ValueError("must be off or REQUESTS/SECONDS with both positive, such as 120/60")
    return Rate(limit, period)


def format_rate(rate: Rate | None) -> str:
    return "off" if rate is None else f"{rate.limit}/{rate.period:g}"


_RATE_TEXT = {"parse": parse_rate, "format": format_rate}


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    per_user: Annotated[
        Rate | None,
        Meta(
            description="Requests per seconds one signed-in user may make (`REQUESTS/SECONDS`), or `off`.",
            extra=_RATE_TEXT,
        ),
    ] = msgspec.field(default=Rate(120, 60.0), name="EVENTGATE_RATE_LIMIT")
    per_address: Annotated[
        Rate | None,
        Meta(
            description="Requests per seconds one client address without a valid session may make, or `off`.",
            extra=_RATE_TEXT,
        ),
    ] = msgspec.field(default=Rate(60, 60.0), name="EVENTGATE_RATE_LIMIT_ANONYMOUS")
    redis_url: Annotated[
        Secret,
        Meta(
            description="Redis URL (`redis://127.0.0.1:6379/0`) to share the limits across processes and "
            "machines; empty keeps them in each process."
        ),
    ] = msgspec.field(default=Secret(""), name="EVENTGATE_RATE_LIMIT_REDIS_URL")

    @property
    def backend(self) -> str:
        """``off`` when neither limit is on, else where the counts live: ``redis`` or ``memory``."""
        if self.per_user is None and self.per_address is None:
            return "off"
        return "redis" if self.redis_url else "memory"
