"""Record what a signed-in user did, as one event on the bus."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from application.ports import EventBusPort, SessionCredentials, SessionPort
from application.rate_policy import RatePolicy
from domain.errors import Unauthenticated
from domain.event import ABSENT, Absent, EventRules, JsonValue, UserEvent, check_event_name, user_event_data
from domain.event_ids import check_idempotency_key, idempotent_event_id


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
        user = await self._session.current_user(command.credentials)
        if user is None:
            if self._rate_policy is not None:
                await self._rate_policy.check_address(command.client_address)
            raise Unauthenticated()
        if self._rate_policy is not None:
            await self._rate_policy.check_user(user.id)
        if command.idempotency_key is None:
            event_id = self._new_id()
        else:
            check_idempotency_key(command.idempotency_key)
            event_id = idempotent_event_id(user.id, command.idempotency_key)
        event = UserEvent(
            name=self._default_event_name if command.name is None else command.name,
            data=user_event_data(user, command.payload),
            id=event_id,
            ts=self._clock(),
        )
        self._rules.check(event)
        return RecordedEvent(user_id=user.id, event_ids=await self._event_bus.publish([event]))
