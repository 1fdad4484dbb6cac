"""Exponential backoff with full jitter: how long to wait before trying again.

Drawing the whole delay at random from ``[0, ceiling)`` spreads out clients that failed together,
so they do not all come back at once.
"""


def full_jitter_delay(retry: int, *, base: float, cap: float, unit_random: float) -> float:
    """The delay before retry number ``retry`` (1 is the first), for ``unit_random`` in ``[0, 1)``."""
    ceiling = min(cap, base * 2.0 ** min(retry - 1, 64))
    return unit_random * ceiling
