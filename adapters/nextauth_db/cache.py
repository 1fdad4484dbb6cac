"""A small memory of sessions the database just confirmed, so that a busy user costs one query per
``ttl`` seconds rather than one per request.

Only sessions found are remembered, never a token that found nobody: a guessed token always costs a
query, and cannot push a real session out. The price of remembering is the sign-out: a session the
app deleted keeps working here until its entry is ``ttl`` seconds old. An expiry is never a price:
each entry keeps the session's ``expires``, and an entry whose session has expired is dropped when
it is next asked for, so the database decides again.
"""

from collections import OrderedDict
from typing import NamedTuple

from domain.user import User

MAX_CACHED_USER_LENGTH = 1024
"""Characters of the user's strings, all told, beyond which a session is not remembered: an entry then
takes at most about 4.6 KiB (the strings may take 4 bytes a character), 8.5 KiB with a custom token
of the greatest length; a usual one about 500 bytes."""


class CachedSession(NamedTuple):
    user: User
    expires_ms: int
    """When the session expires, in Unix milliseconds."""
    until: float
    """Monotonic seconds after which this entry is not used."""


class SessionCache:
    """At most ``max_entries`` sessions, for ``ttl`` seconds each; the oldest goes first when full."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        if ttl < 0 or max_entries < 1:
            raise ValueError("a session cache needs a ttl of 0 or more seconds and room for one entry")
        self.ttl = ttl
        self._max_entries = max_entries
        # An OrderedDict drops its oldest entry in O(1).
        self._entries: OrderedDict[str, CachedSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, *, now_ms: int, monotonic: float) -> User | None:
        """The user of a remembered session still valid at ``now_ms``, or ``None`` (dropping the entry)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if monotonic >= entry.until or entry.expires_ms < now_ms:
            del self._entries[token]
            return None
        return entry.user

    def put(self, token: str, user: User, *, expires_ms: int, monotonic: float) -> None:
        if not self.ttl or not _small_enough(user):
            return
        self._entries.pop(token, None)
        if len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[token] = CachedSession(user, expires_ms, monotonic + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


def _small_enough(user: User) -> bool:
    strings = (user.id, user.name, user.email, user.image)
    return sum(len(value) for value in strings if value is not None) <= MAX_CACHED_USER_LENGTH
