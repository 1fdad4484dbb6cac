"""Session cookies of many bench users at once, minted as ``eventgate session mint`` mints one."""

from adapters.nextauth import claims_for_user, mint_session_cookie
from domain.user import User


def mint_cookies(secret: str, count: int) -> list[str]:
    """``count`` next-auth v4 ``Cookie`` header values, one per user (``bench-user-0``, ...)."""
    return [
        mint_session_cookie(
            secret, 4, claims_for_user(User(f"bench-user-{n}", f"Bench User {n}", f"bench-{n}@example.com"))
        )
        for n in range(count)
    ]
