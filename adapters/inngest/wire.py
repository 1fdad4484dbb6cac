"""The event API's wire format: request bodies, the event-id seed header, and responses.

Request: ``POST /e/{key}`` with a JSON array of ``{name, data, id, ts}``, the form both SDKs send.
Response (inngest ``pkg/api/api.go``, ``ReceiveEvent``): ``{"ids": [...], "status": 200}`` with one
id per event, in order. When an event fails, the server stops there and answers 400 with
``{"ids": [...], "status": 400, "error": "..."}`` whose ids are those of the events handled before
it; when it handled none the list is ``[""]``, so empty ids mean "not accepted".
"""

import base64
import os
import threading
from collections.abc import Iterator, Sequence

import msgspec

SEED_ENTROPY_BYTES = 10
SEEDS_PER_DRAW = 400


class MalformedResponse(Exception):
    """The event API answered with a body that is not what it promises to send."""


class EventApiResponse(msgspec.Struct, frozen=True):
    """The body of an event API response; fields the server leaves out take the SDKs' defaults."""

    ids: list[str] = []
    status: int = 0
    error: str | None = None


_decoder = msgspec.json.Decoder(EventApiResponse)


class _SeedEntropy:
    """The seeds' random bytes, from the OS 400 seeds at a time rather than one system call each.

    Like ``secrets.token_bytes`` (which the SDKs use), it reads ``os.urandom``; drawing once per
    400 seeds spares the event loop's thread a system call per request, and giving the GIL back
    and waiting for it afterwards while other threads hold it. A forked child starts afresh, so
    that it never hands out bytes its parent also will. The lock keeps threads from sharing bytes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: Iterator[bytes] = iter(())

    def take(self) -> bytes:
        with self._lock:
            piece = next(self._pieces, None)
            if piece is None:
                block = os.urandom(SEED_ENTROPY_BYTES * SEEDS_PER_DRAW)
                self._pieces = (
                    block[start : start + SEED_ENTROPY_BYTES]
                    for start in range(0, len(block), SEED_ENTROPY_BYTES)
                )
                piece = next(self._pieces)
            return piece

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._pieces = iter(())


_seed_entropy = _SeedEntropy()
os.register_at_fork(after_in_child=_seed_entropy.forget)


def encode_array(encoded_events: Sequence[bytes]) -> bytes:
    """A request body: already encoded events joined into a JSON array, without encoding them again."""
    return b"[" + b",".join(encoded_events) + b"]"


def array_size(event_sizes: int, count: int) -> int:
    """Bytes of ``encode_array`` for ``count`` events whose encodings add up to ``event_sizes`` bytes."""
    return event_sizes + max(count - 1, 0) + 2


def new_event_id_seed(now: float) -> str:
    """A fresh ``x-inngest-event-id-seed`` value: ``"{unix millis},{base64 of 10 random bytes}"``.

    The server derives the internal id of the n-th event of a request from the seed and n, so a
    request sent again with the same seed gets the same internal ids instead of new ones. That is
    why a seed lives exactly as long as one request body: every retry reuses it, and two different
    bodies never share it, or their events at equal positions would get equal ids.
    """
    entropy = base64.b64encode(_seed_entropy.take()).decode("ascii")
    return f"{int(now * 1000)},{entropy}"


def decode_response(content: bytes) -> EventApiResponse:
    """Decode a response body; raise ``MalformedResponse`` when it is not the event API's JSON."""
    try:
        return _decoder.decode(content)
    except msgspec.DecodeError as error:
        raise MalformedResponse(f"the body is not the event API's JSON ({error})") from None


def check_acknowledged(response: EventApiResponse, event_count: int) -> None:
    """Raise ``MalformedResponse`` unless a success body acknowledges each of ``event_count`` events."""
    if response.status != 200:
        raise MalformedResponse(f"the body says status {response.status}, not 200")
    if response.error:
        raise MalformedResponse(f"the body reports an error: {response.error}")
    if len(response.ids) != event_count:
        raise MalformedResponse(f"{len(response.ids)} ids came back for {event_count} events")
    if not all(response.ids):
        raise MalformedResponse("some events came back without an id")


def accepted_count(response: EventApiResponse, event_count: int) -> int:
    """How many events, from the first, an error body says the server handled before failing."""
    count = 0
    for event_id in response.ids[:event_count]:
        if not event_id:
            break
        count += 1
    return count
