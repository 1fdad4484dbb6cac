"""Events as compact JSON bytes, encoded by msgspec: the form buses and the outbox carry."""

import msgspec

from domain.event import UserEvent

_encoder = msgspec.json.Encoder()


def encode_event(event: UserEvent) -> bytes:
    return _encoder.encode(event.to_wire())


def decode_event(body: bytes) -> UserEvent:
    """An event from the bytes ``encode_event`` made."""
    wire = msgspec.json.decode(body)
    return UserEvent(name=wire["name"], data=wire["data"], id=wire["id"], ts=wire["ts"])


def encoded_size(event: UserEvent) -> int:
    """The event's size as the bus will measure it; several times faster than the standard library."""
    return len(_encoder.encode(event.to_wire()))
