"""The ``HPUB`` frames that publish the bus's messages, a batch of them written as one piece.

Each message is ``HPUB <subject> <reply> <header size> <total size>``, then its headers
(``Nats-Msg-Id`` and ``Content-Type``, in that order) and its body. nats-py's ``publish`` builds one
message's frame at a time, checking each header name and cleaning each value on the way, and queues
it for its writer: more CPU per message than the server spends storing it. These are the bytes
nats-py writes for the same message (the tests compare them), header values cleaned as it cleans
them: trimmed, with carriage returns and line feeds made spaces.
"""

from collections.abc import Sequence

MSG_ID = "Nats-Msg-Id"
CONTENT_TYPE = "application/json"

_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_HEADERS_START = f"NATS/1.0\r\n{MSG_ID}: ".encode()
_HEADERS_END = f"\r\nContent-Type: {CONTENT_TYPE}\r\n\r\n".encode()
_HEADERS_FIXED = len(_HEADERS_START) + len(_HEADERS_END)
_CRLF = b"\r\n"


def header_value(text: str) -> str:
    """A header value as nats-py writes it: it can never end the header line early."""
    value = text.strip()
    return value if value.isprintable() else value.translate(_NEWLINES)


def encode_publishes(messages: Sequence[tuple[str, bytes, str]], reply_prefix: str) -> bytes:
    """The frames of ``(subject, body, message id)`` messages, message ``i`` asking for its answer on
    ``<reply_prefix><i>``."""
    parts: list[bytes] = []
    add = parts.append
    for position, (subject, body, message_id) in enumerate(messages):
        value = header_value(message_id).encode()
        header_size = _HEADERS_FIXED + len(value)
        add(f"HPUB {subject} {reply_prefix}{position} {header_size} {header_size + len(body)}\r\n".encode())
        add(_HEADERS_START)
        add(value)
        add(_HEADERS_END)
        add(body)
        add(_CRLF)
    return b"".join(parts)
