"""In-memory adapters: for tests and for running the service with nothing else around it."""

from collections import deque
from collections.abc import Mapping, Sequence

from adapters.event_json import as_encoded, decode_event
from application.ports import EncodedEvent, SessionCredentials
from domain.errors import PublishFailed
from domain.event import UserEvent
from domain.user import User

DEV_SESSION_COOKIE = "eventgate.dev-session"


class InMemorySession:
    """Knows a fixed set of users, each by the opaque token its session cookie carries."""

    def __init__(self, users_by_token: Mapping[str, User], cookie_name: str = DEV_SESSION_COOKIE) -> None:
        self._users_by_token = dict(users_by_token)
        self._cookie_name = cookie_name

    async def current_user(self, credentials: SessionCredentials) -> User | None:
        token = credentials.cookies.get(self._cookie_name)
        return None if token is None else self._users_by_token.get(token)


class InMemoryEventBus:
    """Records what was published, newest last, as a bus carries it (encoded), and fails on demand.

    It keeps at most ``capacity`` events so that a long local run cannot grow without bound.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._published: deque[EncodedEvent] = deque(maxlen=capacity)
        self._failures: deque[PublishFailed] = deque()
        self._failing_for_good: PublishFailed | None = None

    @property
    def published(self) -> list[UserEvent]:
        """The events published, as a consumer decodes them."""
        return [decode_event(event.body) for event in self._published]

    @property
    def published_encoded(self) -> list[EncodedEvent]:
        """The events published, with the very bytes each was published as."""
        return list(self._published)

    def fail_next(self, error: PublishFailed, times: int = 1) -> None:
        """Make the next ``times`` publishes raise ``error`` and publish nothing."""
        self._failures.extend([error] * times)

    def fail_always(self, error: PublishFailed | None) -> None:
        """Make every publish raise ``error`` until called again with ``None``."""
        self._failing_for_good = error

    async def probe(self) -> str | None:
        """Not ready while told to fail for good."""
        return None if self._failing_for_good is None else self._failing_for_good.reason

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        if self._failures:
            raise self._failures.popleft()
        if self._failing_for_good is not None:
            raise self._failing_for_good
        self._published.extend(events)
        return [event.id for event in events]
