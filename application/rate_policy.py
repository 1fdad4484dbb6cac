"""Who may send how many requests: per signed-in user, and per client address for everyone else."""

from dataclasses import dataclass

from application.ports import RateDecision, RateLimiterPort
from domain.errors import InvalidEvent, RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` requests per ``period`` seconds (a burst of ``limit`` is allowed)."""

    limit: int
    period: float


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """Limits for users and for addresses; ``None`` switches that limit off."""

    limiter: RateLimiterPort
    per_user: Rate | None
    per_address: Rate | None

    async def check_user(self, user_id: str, events: int = 1, *, batch: int | None = None) -> None:
        """A request counts once per event it records: a batch of 20 as much as 20 requests.

        ``batch`` is the size of the whole batch when ``events`` is the part of it not yet counted;
        a batch larger than the limit could never pass, and is refused as such.
        """
        rate = self.per_user
        if rate is None:
            return
        size = events if batch is None else batch
        if size > rate.limit:
            raise InvalidEvent(
                "events",
                f"{size} events at once are more than the rate limit allows "
                f"({rate.limit} per {rate.period:g} s): send smaller batches",
            )
        _enforce(rate, await self.limiter.hit(f"user:{user_id}", rate.limit, rate.period, events))

    async def check_address(self, address: str | None) -> None:
        """Requests without a session are counted by where they come from."""
        rate = self.per_address
        if rate is not None:
            _enforce(rate, await self.limiter.hit(f"addr:{address or 'unknown'}", rate.limit, rate.period))


def _enforce(rate: Rate, decision: RateDecision) -> None:
    if not decision.allowed:
        raise RateLimited(rate.limit, rate.period, decision.retry_after, decision.reset_after)
