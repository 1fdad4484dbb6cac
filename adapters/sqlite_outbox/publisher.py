"""The event bus the use case sees in outbox mode: publishing is appending to the outbox."""

from collections.abc import Sequence
from typing import Protocol

from domain.event import UserEvent


class AppendingStore(Protocol):
    """An outbox store, SQLite or PostgreSQL: ``append`` returns once the events are committed."""

    async def append(self, events: Sequence[UserEvent]) -> list[str]: ...


class OutboxPublisher:
    """An ``EventBusPort`` whose publish succeeds once the events are committed to the outbox.

    The relay delivers them to the real bus later; an id already in the outbox is not stored again,
    and one that comes back with another request raises ``IdempotencyKeyReused``.
    """

    def __init__(self, store: AppendingStore) -> None:
        self._append = store.append

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        return await self._append(events)
