"""The ports: what the use cases need from the outside world, and nothing about how it is done."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.event import UserEvent
from domain.user import User


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    """What a request presents to prove who sent it: its cookies and its Authorization header."""

    cookies: Mapping[str, str] = field(default_factory=dict)
    authorization: str | None = None


class SessionPort(Protocol):
    """Finds the signed-in user behind a request's credentials."""

    async def current_user(self, credentials: SessionCredentials) -> User | None:
        """The user the credentials prove, or ``None`` when they prove nobody."""
        ...


class EventBusPort(Protocol):
    """Hands events to a bus that delivers them to whoever subscribes."""

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Publish the events and return their ids, in order.

        Raises ``EventBusUnavailable`` when trying again may succeed and ``EventRejected`` when it
        cannot.
        """
        ...
