"""Who may send how many requests: per signed-in user, and per client address for everyone else."""

from dataclasses import dataclass

from application.ports import RateLimiterPort
from domain.errors import RateLimited


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

    async def check_user(self, user_id: str) -> None:
        await self._check(f"user:{user_id}", self.per_user)

    async def check_address(self, address: str | None) -> None:
        """Requests without a session are counted by where they come from."""
        await self._check(f"addr:{address or 'unknown'}", self.per_address)

    async def _check(self, key: str, rate: Rate | None) -> None:
        if rate is None:
            return
        decision = await self.limiter.hit(key, rate.limit, rate.period)
        if not decision.allowed:
            raise RateLimited(rate.limit, rate.period, decision.retry_after, decision.reset_after)
