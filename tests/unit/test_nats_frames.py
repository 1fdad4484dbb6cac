"""The publish frames the NATS bus writes itself are, byte for byte, the ones nats-py writes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client

from adapters.nats_bus.frames import CONTENT_TYPE, MSG_ID, encode_publishes, header_value
from adapters.nats_bus.subjects import subject_token

pytestmark = pytest.mark.anyio

messages = st.tuples(
    st.text(min_size=1, max_size=40).map(lambda name: f"eventgate.{subject_token(name)}"),
    st.binary(max_size=300),
    st.text(min_size=1, max_size=60),
)
reply_prefixes = st.from_regex(r"_INBOX\.[A-Za-z0-9]{1,22}\.[0-9]{1,6}\.", fullmatch=True)


async def nats_py_frames(batch: list[tuple[str, bytes, str]], reply_prefix: str) -> bytes:
    """What nats-py queues for its writer when it publishes each message as the bus would."""
    client = Client()  # not connected: what it would write stays in its pending commands
    for position, (subject, body, message_id) in enumerate(batch):
        await client._send_publish(
            subject,
            f"{reply_prefix}{position}",
            body,
            len(body),
            {MSG_ID: message_id, "Content-Type": CONTENT_TYPE},
        )
    return b"".join(client._pending)


@given(st.lists(messages, max_size=5), reply_prefixes)
async def test_writes_what_nats_py_writes_for_any_message(
    batch: list[tuple[str, bytes, str]], reply_prefix: str
) -> None:
    assert encode_publishes(batch, reply_prefix) == await nats_py_frames(batch, reply_prefix)


def test_a_header_value_never_ends_its_line() -> None:
    assert header_value(" an\r\nid\n ") == "an  id"
    assert header_value("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b") == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def test_frames_a_batch_one_message_after_another() -> None:
    frames = encode_publishes(
        [("eventgate.a", b'{"n":1}', "id-1"), ("eventgate.b", b"", "id-2")], "_INBOX.x.7."
    )

    headers = b"NATS/1.0\r\nNats-Msg-Id: id-1\r\nContent-Type: application/json\r\n\r\n"
    assert frames == (
        b"HPUB eventgate.a _INBOX.x.7.0 %d %d\r\n" % (len(headers), len(headers) + 7)
        + headers
        + b'{"n":1}\r\n'
        + b"HPUB eventgate.b _INBOX.x.7.1 %d %d\r\n" % (len(headers), len(headers))
        + headers.replace(b"id-1", b"id-2")
        + b"\r\n"
    )
