"""The ports: what the use cases need from the outside world, and nothing about how it is done."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

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
        """The user the credentials prove, or ``None`` when they prove nobody.

        Raises ``SessionStoreUnavailable`` when the store that holds the sessions does not answer:
        then who sent the request is unknown, which is not the same as nobody.
        """
        ...


class EncodedEvent(NamedTuple):
    """An event as it was encoded once, when accepted: ``body`` is its JSON ``{"name","data","id","ts"}``.

    ``id``, ``name`` and ``ts`` are the body's own, read from it without its ``data``, for a bus to
    route, deduplicate and stamp the event by; the bus sends ``body`` as it is. A named tuple rather
    than a frozen dataclass: the relay makes one per event it claims.
    """

    id: str
    name: str
    ts: int
    body: bytes


class ClaimedEvent(NamedTuple):
    """An outbox event leased to one relay; ``attempts`` counts the deliveries already tried."""

    event: EncodedEvent
    attempts: int


class OutboxPort(Protocol):
    """Durable storage of accepted events until a relay has handed them to the bus.

    A claim leases events to one owner for a while, so relays sharing the outbox never deliver the
    same event at the same time; an expired lease makes the events claimable again. An owner that
    holds its liveness mark has its leases released as soon as it is known dead, without waiting.
    """

    async def hold_owner(self, owner: str) -> None:
        """Mark ``owner`` alive while this store stays open (until ``close``, or this process's death)."""
        ...

    async def release_dead_owners(self) -> int:
        """Release the leases of pending events of every owner known dead; returns how many.

        An owner that never held its mark (an older version, or an unknown owner) keeps its leases
        until they run out.
        """
        ...

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        """Lease up to ``limit`` due events to ``owner``, oldest first, each as it was stored (encoded)."""
        ...

    async def mark_delivered(self, owner: str, event_ids: Sequence[str]) -> None:
        """The bus acknowledged these events: they are done."""
        ...

    async def retry_later(self, owner: str, event_ids: Sequence[str], delay: float, error: str) -> None:
        """Release these events to be claimed again after ``delay`` seconds, noting why they failed."""
        ...

    async def dead_letter(self, owner: str, event_ids: Sequence[str], reason: str) -> None:
        """The bus refused these events for good: keep them, with the reason, for a person to look at."""
        ...


class HandOffPort(Protocol):
    """How an outbox passes the events this process accepts straight to this process's relay.

    The relay is told of each append (its doorbell), and can have what this process writes leased
    to it as it is written and kept in memory, so that claiming it costs no read of the store.
    """

    def hand_off_to(self, owner: str, lease_seconds: float, capacity: int) -> None:
        """Lease what this process accepts to relay ``owner`` as it is written; keep up to ``capacity``."""
        ...

    async def end_hand_off(self) -> None:
        """Stop handing off; what still waits in memory becomes claimable by any relay."""
        ...

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each successful append."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """How the outbox stands: what waits, what died, how fast it drains."""

    pending: int
    pending_bytes: int
    oldest_pending_age: float | None
    dead: int
    delivered_last_minute: int
    last_error: str | None

    @property
    def delivered_per_second(self) -> float:
        return self.delivered_last_minute / 60


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event the bus refused for good, kept with its reason for a person to look at."""

    id: str
    name: str
    attempts: int
    reason: str
    failed_at_ms: int


class OutboxAdminPort(Protocol):
    """What an operator asks of the outbox: its status, its dead letters, and repairs."""

    async def status(self) -> OutboxStatus: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def revive(self, event_ids: Sequence[str] | None) -> int:
        """Make dead events (these ids, or all when ``None``) pending again; returns how many."""
        ...

    async def purge_delivered(self) -> int:
        """Forget every delivered event now; returns how many."""
        ...


class EventBusPort(Protocol):
    """Hands events to a bus that delivers them to whoever subscribes."""

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Publish the events and return their ids, in order.

        A failure says whose it is. ``EventRejected``: the bus judged these events and refused them
        for good (invalid, too large). ``SenderRefused``: the bus refuses eventgate itself (a wrong
        key, address or right), whatever the events. ``EventBusUnavailable``: the bus cannot take
        events now. Only the first is about the events: the other two stop every publish alike, so
        the relay waits for the bus rather than giving up on events. Each error's ``accepted_ids``
        lists the events the bus took before it failed.
        """
        ...


class EncodedEventBusPort(Protocol):
    """Hands events that are encoded already to a bus: what the relay needs, as it holds stored bytes."""

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        """Publish the events, each as its ``body`` says, byte for byte, and return their ids, in order.

        It fails as ``EventBusPort.publish`` does.
        """
        ...


class RateDecision(NamedTuple):
    """The outcome of one request against a rate limit; times are in seconds.

    A named tuple rather than a frozen dataclass: one is made per request, at a third of the cost.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


class RateLimiterPort(Protocol):
    """Counts requests per key (a user, or a client address) against a limit per period."""

    async def hit(self, key: str, limit: int, period: float, hits: int = 1) -> RateDecision:
        """Count ``hits`` requests for ``key`` at once; ``allowed`` is false once ``limit`` per ``period``
        is used up, so more than ``limit`` hits at once are never allowed.

        A refused hit does not use up any of the limit.
        """
        ...


class ReadinessProbe(Protocol):
    """Part of the service that can tell whether it can do its work right now.

    A bus's probe should be cheap (the relay asks it about once a second while the bus fails, before
    it risks a batch) and may be partial: a bus that answers may still fail a publish.
    """

    async def probe(self) -> str | None:
        """``None`` when ready; otherwise a short reason, safe to show anyone (no secrets, no paths)."""
        ...


class ProbedEventBus(EventBusPort, ReadinessProbe, Protocol):
    """A bus that can also say whether it is ready."""


class DeliveryBus(ProbedEventBus, EncodedEventBusPort, Protocol):
    """A bus direct mode publishes events to and the relay encoded events: every bus adapter eventgate has."""
