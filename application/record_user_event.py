"""Record what a signed-in user did, as one event on the bus."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from application.ports import EventBusPort, SessionCredentials, SessionPort
from application.rate_policy import RatePolicy
from domain.errors import Unauthenticated
from domain.event import ABSENT, Absent, EventRules, JsonValue, UserEvent, check_event_name, user_event_data
from domain.event_ids import check_idempotency_key, idempotent_event_id
from domain.user import User


@dataclass(frozen=True, slots=True)
class RecordUserEventCommand:
    """A request to record an event; ``name=None`` means the configured default name."""

    credentials: SessionCredentials
    name: str | None = None
    payload: JsonValue | Absent = ABSENT
    idempotency_key: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """What was recorded, and for whom: the ids the bus (or the outbox) acknowledged."""

    user_id: str
    event_ids: list[str]


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of an event's ``ts``."""
    return time.time_ns() // 1_000_000


class RecordUserEvent:
    """Attribute an event to the session's user, validate it, and publish it.

    Without a signed-in user nothing is published: the route this replaces sent events with an
    undefined user. The rate policy, when given, counts users by id and anonymous callers by address.
    ``new_id`` is the source of fresh event ids; a request with an idempotency key gets one derived
    from it instead.
    """

    def __init__(
        self,
        session: SessionPort,
        event_bus: EventBusPort,
        *,
        default_event_name: str,
        rules: EventRules,
        new_id: Callable[[], str],
        rate_policy: RatePolicy | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        check_event_name(default_event_name)
        self._session = session
        self._event_bus = event_bus
        self._default_event_name = default_event_name
        self._rules = rules
        self._rate_policy = rate_policy
        self._clock = clock
        self._new_id = new_id

    async def execute(self, command: RecordUserEventCommand) -> RecordedEvent:
        """Publish the event; the result names the user and the ids the bus acknowledged."""
        user = await self.admit(command.credentials, command.client_address)
        return await self.record(user, command.name, command.payload, command.idempotency_key)

    async def admit(self, credentials: SessionCredentials, client_address: str | None) -> User:
        """The signed-in user the credentials prove, within the rate limits; the first half of ``execute``.

        An HTTP request is admitted from its headers alone, so a stranger's or an over-limit body is
        never read: ``Unauthenticated`` or ``RateLimited`` is raised first.
        """
        user = await self._session.current_user(credentials)
        if user is None:
            if self._rate_policy is not None:
                await self._rate_policy.check_address(client_address)
            raise Unauthenticated()
        if self._rate_policy is not None:
            await self._rate_policy.check_user(user.id)
        return user

    async def record(
        self,
        user: User,
        name: str | None = None,
        payload: JsonValue | Absent = ABSENT,
        idempotency_key: str | None = None,
    ) -> RecordedEvent:
        """Publish the event of an admitted ``user``; the second half of ``execute``."""
        if idempotency_key is None:
            event_id = self._new_id()
        else:
            check_idempotency_key(idempotency_key)
            event_id = idempotent_event_id(user.id, idempotency_key)
        event = UserEvent(
            name=self._default_event_name if name is None else name,
            data=user_event_data(user, payload),
            id=event_id,
            ts=self._clock(),
        )
        self._rules.check(event)
        return RecordedEvent(user_id=user.id, event_ids=await self._event_bus.publish([event]))
