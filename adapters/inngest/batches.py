"""Cutting a publish into request bodies that stay within the event API's limits.

The server parses at most 5000 events per request (inngest ``pkg/consts``, ``MaxEvents``) and
Inngest Cloud documents a per-request body limit of 512 KiB unless raised on request (the largest
it allows is 3 MiB). The events come encoded; a body is their bytes joined, never encoded again.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.inngest import wire
from application.ports import EncodedEvent
from domain.errors import EventRejected

MAX_EVENTS_PER_REQUEST = 5000
DEFAULT_MAX_REQUEST_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most events and bytes one request may carry."""

    max_events: int = MAX_EVENTS_PER_REQUEST
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_events <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"max_events must be 1 to {MAX_EVENTS_PER_REQUEST}, got {self.max_events}")
        if self.max_bytes < wire.array_size(0, 0):
            raise ValueError(f"max_bytes must leave room for an event, got {self.max_bytes}")


@dataclass(frozen=True, slots=True)
class RequestBody:
    """The events one request carries, in publish order, and their JSON array."""

    events: Sequence[EncodedEvent]
    content: bytes


def split(events: Sequence[EncodedEvent], limits: BatchLimits) -> list[RequestBody]:
    """Bodies for the events in order, each as full as the limits allow.

    Raises ``EventRejected`` before anything is sent when a single event is too large for a request.
    """
    bodies: list[RequestBody] = []
    max_events, max_bytes = limits.max_events, limits.max_bytes
    start = 0
    pending: list[bytes] = []
    pending_bytes = 0
    for index, event in enumerate(events):
        encoded = event.body
        size = len(encoded)
        # ``wire.array_size`` spelled out, as this runs once per event: the events' bytes, a comma
        # between two of them, and the brackets.
        if size + 2 > max_bytes:
            raise EventRejected(
                f"event too large: event {event.id} is {size} bytes once encoded, and a request "
                f"to the event API may carry at most {max_bytes} bytes"
            )
        count = len(pending)
        if count == max_events or pending_bytes + size + count + 2 > max_bytes:
            bodies.append(RequestBody(events[start:index], wire.encode_array(pending)))
            start, pending, pending_bytes = index, [], 0
        pending.append(encoded)
        pending_bytes += size
    if pending:
        bodies.append(RequestBody(events[start:], wire.encode_array(pending)))
    return bodies
