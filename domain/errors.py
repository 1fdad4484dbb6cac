"""Domain errors: every way recording an event can fail, in words a caller can act on."""

from collections.abc import Sequence


class DomainError(Exception):
    """Base class for every failure the domain knows how to name."""


class Unauthenticated(DomainError):
    """There is no signed-in user, so there is nobody to attribute an event to."""

    def __init__(self, reason: str = "no valid session") -> None:
        super().__init__(reason)
        self.reason = reason


class SessionStoreUnavailable(DomainError):
    """The store that holds the sessions did not answer, so who is signed in is unknown.

    Not a sign-out: the request is neither attributed nor refused as anonymous. Trying again after
    ``retry_after`` seconds may succeed.
    """

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class InvalidEvent(DomainError):
    """The event breaks a rule; ``field`` names the part of the request that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def inside(self, path: str) -> "InvalidEvent":
        """The same error about the event at ``path`` of a larger request: ``name`` becomes ``events[3].name``."""
        return InvalidEvent(f"{path}.{self.field}", self.message)


class EventNotAllowed(DomainError):
    """The event's name is outside the names this deployment accepts; ``field`` is where the name is."""

    def __init__(self, name: str, patterns: tuple[str, ...], *, field: str = "name") -> None:
        super().__init__(f"event name {name!r} matches none of the allowed patterns {', '.join(patterns)}")
        self.name = name
        self.patterns = patterns
        self.field = field

    def inside(self, path: str) -> "EventNotAllowed":
        """The same error about the event at ``path`` of a larger request (``events[3]``)."""
        return EventNotAllowed(self.name, self.patterns, field=f"{path}.{self.field}")


class RateLimited(DomainError):
    """Too many requests from one user or client address; ``retry_after`` says when to come back."""

    def __init__(self, limit: int, period: float, retry_after: float, reset_after: float) -> None:
        super().__init__(f"more than {limit} requests in {period:g} s")
        self.limit = limit
        self.period = period
        self.retry_after = retry_after
        self.reset_after = reset_after


class EventTooLarge(InvalidEvent):
    """The serialized event is larger than the bus accepts."""

    def __init__(self, size: int, limit: int, *, field: str = "data") -> None:
        super().__init__(field, f"the event is {size} bytes once serialized; the limit is {limit} bytes")
        self.size = size
        self.limit = limit

    def inside(self, path: str) -> "EventTooLarge":
        return EventTooLarge(self.size, self.limit, field=f"{path}.{self.field}")


class PublishFailed(DomainError):
    """Publishing failed; ``accepted_ids`` lists the events the bus took before it failed, if any.

    Publishing every event again is safe: buses deduplicate by event id.
    """

    def __init__(self, reason: str, *, accepted_ids: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.accepted_ids = tuple(accepted_ids)


class EventBusUnavailable(PublishFailed):
    """The bus could not take the events now; trying again later may succeed.

    It says nothing against the events themselves: the bus is down, overloaded, or out of reach.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, accepted_ids: Sequence[str] = ()
    ) -> None:
        super().__init__(reason, accepted_ids=accepted_ids)
        self.retry_after = retry_after


class SenderRefused(EventBusUnavailable):
    """The bus refuses eventgate itself, not the events: its key is wrong, or its address, or its rights.

    No event can pass until someone fixes the configuration, and then each passes as it is: an
    unavailability that lasts, never a verdict on the events. ``cause`` names the refusal in a few
    words, safe to show anyone (``event key rejected``); ``reason`` gives the bus's answer, for the log.
    """

    def __init__(self, reason: str, cause: str, *, accepted_ids: Sequence[str] = ()) -> None:
        super().__init__(reason, accepted_ids=accepted_ids)
        self.cause = cause


class EventRejected(PublishFailed):
    """The bus refused the events themselves for good (invalid, too large): sent again, they fail again."""


class OutboxUnavailable(EventBusUnavailable):
    """The outbox cannot store the events now: it is full, or its storage cannot be written."""


class IdempotencyKeyReused(DomainError):
    """An idempotency key came back with a different request (another name or payload).

    A retry must repeat its request exactly; a new request needs a new key. Nothing of the request is
    stored. ``event_ids`` names the stored events whose keys were reused; ``fields``, when known, the
    parts of the request that carried those keys (``Idempotency-Key``, ``events[3].idempotencyKey``).
    """

    def __init__(self, event_ids: Sequence[str], fields: Sequence[str] = ()) -> None:
        super().__init__("the idempotency key was already used for a different request")
        self.event_ids = tuple(event_ids)
        self.fields = tuple(fields)
