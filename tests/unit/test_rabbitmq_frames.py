"""The publish frames the RabbitMQ bus writes itself are, byte for byte, the ones pamqp writes."""

import datetime

import pamqp.frame
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from adapters.rabbitmq_bus.frames import FRAME_OVERHEAD, Message, PublishEncoder, short_string


def pamqp_frames(message: Message, *, channel: int, exchange: str, frame_max: int) -> bytes:
    properties = spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message.message_id,
        timestamp=datetime.datetime.fromtimestamp(message.timestamp, datetime.UTC),
    )
    chunk = frame_max - FRAME_OVERHEAD
    frames: list[pamqp.frame.FrameTypes] = [
        spec.Basic.Publish(exchange=exchange, routing_key=message.routing_key, mandatory=True),
        ContentHeader(0, len(message.body), properties),
        *(ContentBody(message.body[start : start + chunk]) for start in range(0, len(message.body), chunk)),
    ]
    return b"".join(pamqp.frame.marshal(frame, channel) for frame in frames)


def short_text(*, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=255).filter(lambda text: len(text.encode("utf-8")) <= 255)


messages = st.builds(
    Message,
    routing_key=short_text(),
    message_id=short_text(min_size=1),  # pamqp leaves an empty one out; an event id never is
    timestamp=st.integers(0, 253_402_300_799),  # to the last second pamqp's datetime holds
    body=st.binary(max_size=600),
)
exchanges = st.from_regex(r"[a-zA-Z0-9-_.:@#,/+ ]{0,127}", fullmatch=True)
"""The names pamqp, and so aiormq, declares."""


@given(
    st.lists(messages, max_size=5),
    st.integers(1, 65535),
    exchanges,
    st.integers(FRAME_OVERHEAD + 1, 300),
)
def test_writes_what_pamqp_writes_for_any_message(
    batch: list[Message], channel: int, exchange: str, frame_max: int
) -> None:
    encoder = PublishEncoder(channel=channel, exchange=exchange, frame_max=frame_max)

    expected = b"".join(
        pamqp_frames(message, channel=channel, exchange=exchange, frame_max=frame_max) for message in batch
    )
    assert encoder.encode(batch) == expected


def test_a_body_of_exactly_one_frame_is_not_split() -> None:
    encoder = PublishEncoder(channel=1, exchange="x", frame_max=FRAME_OVERHEAD + 4)
    message = Message(routing_key="k", message_id="id", timestamp=0, body=b"abcd")

    encoded = encoder.encode([message])

    assert encoded.endswith(b"\x03\x00\x01\x00\x00\x00\x04abcd\xce")
    assert encoded.count(b"abcd") == 1


def test_refuses_text_longer_than_a_short_string() -> None:
    assert short_string("é" * 127) == b"\xfe" + "é".encode() * 127
    with pytest.raises(ValueError, match="256 bytes"):
        short_string("é" * 128)
