"""Record what a signed-in user did, as one event on the bus."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from application.ports import EventBusPort, SessionCredentials, SessionPort
from application.rate_policy import RatePolicy
from domain.errors import EventNotAllowed, IdempotencyKeyReused, InvalidEvent, Unauthenticated
from domain.event import ABSENT, Absent, EventRules, JsonValue, UserEvent, check_event_name, user_event_data
from domain.event_ids import check_idempotency_key, idempotent_event_id
from domain.user import User

DEFAULT_MAX_BATCH_EVENTS = 100


@dataclass(frozen=True, slots=True)
class RecordUserEventCommand:
    """A request to record an event; ``name=None`` means the configured default name."""

    credentials: SessionCredentials
    name: str | None = None
    payload: JsonValue | Absent = ABSENT
    idempotency_key: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class EventDraft:
    """One event of a batch, as the client sent it; ``name=None`` means the configured default name."""

    name: str | None = None
    payload: JsonValue | Absent = ABSENT
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class RecordUserEventsCommand:
    """A request to record several events at once: every one of them, or none."""

    credentials: SessionCredentials
    events: Sequence[EventDraft]
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
    """Attribute events to the session's user, validate them, and publish them.

    Without a signed-in user nothing is published: the route this replaces sent events with an
    undefined user. The rate policy, when given, counts users by id (one hit per event) and
    anonymous callers by address (one hit per request). ``new_id`` is the source of fresh event
    ids; an event with an idempotency key gets one derived from it instead.

    Each ``execute`` is ``admit`` (session and rate limit, from the request's credentials alone)
    then ``record``: an HTTP request is admitted before its body is read, so a stranger's or an
    over-limit body never is.
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
        max_batch_events: int = DEFAULT_MAX_BATCH_EVENTS,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        check_event_name(default_event_name)
        if max_batch_events < 1:
            raise ValueError(f"max_batch_events must be at least 1, got {max_batch_events}")
        self._session = session
        self._event_bus = event_bus
        self._default_event_name = default_event_name
        self._rules = rules
        self._rate_policy = rate_policy
        self._max_batch_events = max_batch_events
        self._clock = clock
        self._new_id = new_id

    async def execute(self, command: RecordUserEventCommand) -> RecordedEvent:
        """Publish the event; the result names the user and the ids the bus acknowledged."""
        user = await self.admit(command.credentials, command.client_address)
        return await self.record(user, command.name, command.payload, command.idempotency_key)

    async def execute_batch(self, command: RecordUserEventsCommand) -> RecordedEvent:
        """Publish every event in one call of the bus, or none (see ``record_batch``)."""
        user = await self.admit(command.credentials, command.client_address)
        return await self.record_batch(user, command.events)

    async def admit(self, credentials: SessionCredentials, client_address: str | None) -> User:
        """The signed-in user the credentials prove, within the rate limits (one hit); else
        ``Unauthenticated`` or ``RateLimited``."""
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
        """Publish the event of an admitted ``user``; ``IdempotencyKeyReused`` names the header when the
        bus holds another request under its key."""
        event = self._event(user, name, payload, idempotency_key)
        try:
            event_ids = await self._event_bus.publish([event])
        except IdempotencyKeyReused as error:
            raise IdempotencyKeyReused(error.event_ids, ["Idempotency-Key"]) from None
        return RecordedEvent(user_id=user.id, event_ids=event_ids)

    async def record_batch(self, user: User, drafts: Sequence[EventDraft]) -> RecordedEvent:
        """Publish every event of an admitted ``user`` in one call of the bus, or none: the first event
        that breaks a rule refuses the batch, its error's ``field`` naming it (``events[3].name``).

        Admission counted one hit of the rate limit; the batch's other events count here, all or none.
        The bus stores a batch at once (the outbox, in one transaction) or refuses it whole. Events
        sharing an idempotency key share their id, as retries of one event do: the bus keeps one, or,
        when their requests differ, refuses the batch with ``IdempotencyKeyReused``, whose ``fields``
        name every event whose id it names (``events[3].idempotencyKey``).
        """
        if not 1 <= len(drafts) <= self._max_batch_events:
            raise InvalidEvent("events", f"must hold 1 to {self._max_batch_events} events, got {len(drafts)}")
        if self._rate_policy is not None and len(drafts) > 1:
            await self._rate_policy.check_user(user.id, len(drafts) - 1, batch=len(drafts))
        events: list[UserEvent] = []
        for index, draft in enumerate(drafts):
            try:
                event = self._event(user, draft.name, draft.payload, draft.idempotency_key, "idempotencyKey")
            except (InvalidEvent, EventNotAllowed) as error:
                raise error.inside(f"events[{index}]") from None
            events.append(event)
        try:
            event_ids = await self._event_bus.publish(events)
        except IdempotencyKeyReused as error:
            fields = [
                f"events[{index}].idempotencyKey"
                for index, event in enumerate(events)
                if event.id in error.event_ids
            ]
            raise IdempotencyKeyReused(error.event_ids, fields) from None
        return RecordedEvent(user_id=user.id, event_ids=event_ids)

    def _event(
        self,
        user: User,
        name: str | None,
        payload: JsonValue | Absent,
        idempotency_key: str | None,
        key_field: str = "Idempotency-Key",
    ) -> UserEvent:
        """The user's event, checked against the rules; ``key_field`` names where the key came from."""
        if idempotency_key is None:
            event_id = self._new_id()
        else:
            check_idempotency_key(idempotency_key, key_field)
            event_id = idempotent_event_id(user.id, idempotency_key)
        event = UserEvent(
            name=self._default_event_name if name is None else name,
            data=user_event_data(user, payload),
            id=event_id,
            ts=self._clock(),
        )
        self._rules.check(event)
        return event
