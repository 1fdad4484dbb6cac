"""The AMQP 0-9-1 frames that publish the bus's messages, written with ``struct``.

Each message is a ``basic.publish`` method frame (``mandatory``), a content header with the bus's
four properties (``content_type``, ``delivery_mode``, ``message_id``, ``timestamp``) and its body in
frames of at most ``frame_max`` bytes. pamqp encodes any frame, and costs more CPU per message than
the broker spends storing it; the tests check these bytes against pamqp's.
"""

import struct
from collections.abc import Iterable
from dataclasses import dataclass

CONTENT_TYPE = "application/json"
PERSISTENT = 2
FRAME_OVERHEAD = 8
"""Bytes of a frame that are not its payload: type, channel and size before it, an end octet after."""

_FRAME = struct.Struct(">BHI")
_FRAME_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC_PUBLISH = struct.pack(">HHH", 60, 40, 0)
"""Class ``basic``, method ``publish``, and the reserved ``ticket``."""
_MANDATORY = b"\x01"
_HEADER_START = struct.Struct(">HHQH")
"""Class ``basic``, weight 0, body size, property flags."""
_PROPERTY_FLAGS = 0x8000 | 0x1000 | 0x0080 | 0x0040
"""``content_type``, ``delivery_mode``, ``message_id``, ``timestamp``, in the order AMQP writes them."""
_TIMESTAMP = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Message:
    routing_key: str
    message_id: str
    timestamp: int
    """Whole seconds since the epoch, as AMQP's ``timestamp`` has it."""
    body: bytes


def short_string(text: str) -> bytes:
    """AMQP's ``shortstr``: a length octet, then at most 255 bytes of UTF-8."""
    data = text.encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"{len(data)} bytes in UTF-8 do not fit an AMQP short string (255 at most)")
    return bytes((len(data),)) + data


class PublishEncoder:
    """Encodes messages to ``exchange`` as the frames of one channel, ready to be written at once."""

    def __init__(self, *, channel: int, exchange: str, frame_max: int) -> None:
        self._channel = channel
        self._publish_start = _BASIC_PUBLISH + short_string(exchange)
        self._properties_start = short_string(CONTENT_TYPE) + bytes((PERSISTENT,))
        self._max_body_frame = frame_max - FRAME_OVERHEAD

    def encode(self, messages: Iterable[Message]) -> bytes:
        channel = self._channel
        frame = _FRAME.pack
        parts: list[bytes] = []
        add = parts.append
        for message in messages:
            publish = self._publish_start + short_string(message.routing_key) + _MANDATORY
            add(frame(_METHOD, channel, len(publish)))
            add(publish)
            add(_FRAME_END)
            body = message.body
            header = b"".join(
                (
                    _HEADER_START.pack(60, 0, len(body), _PROPERTY_FLAGS),
                    self._properties_start,
                    short_string(message.message_id),
                    _TIMESTAMP.pack(message.timestamp),
                )
            )
            add(frame(_HEADER, channel, len(header)))
            add(header)
            add(_FRAME_END)
            for start in range(0, len(body), self._max_body_frame):
                chunk = body[start : start + self._max_body_frame]
                add(frame(_BODY, channel, len(chunk)))
                add(chunk)
                add(_FRAME_END)
        return b"".join(parts)
