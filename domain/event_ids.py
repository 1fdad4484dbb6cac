"""Event ids: fresh ones that sort by creation time, and ones derived from an idempotency key.

The bus deduplicates by id, so an id derived from (user, key) turns a client's retry into a no-op.
"""

import os
import threading
import time
import uuid

from domain.errors import InvalidEvent

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3f0e-8a4b-5c2e-9d7a-3b5e1c0f2a94")


class _RandomPool:
    """Random bytes from the OS drawn 4 KiB at a time: one system call per 409 ids, not one per id.

    The lock keeps two threads from ever being handed the same bytes, and a forked child starts
    with an empty pool, so that it never hands out bytes its parent also will.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer, self._offset = os.urandom(self._size), 0
            start, self._offset = self._offset, self._offset + count
            return self._buffer[start : self._offset]

    def forget(self) -> None:
        self._buffer, self._offset, self._lock = b"", 0, threading.Lock()


_random = _RandomPool()
os.register_at_fork(after_in_child=_random.forget)


_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)
"""Version 7 in bits 76-79, the RFC variant (``10``) in bits 62-63."""
_NOT_VERSION_OR_VARIANT = ~((0xF << 76) | (0x3 << 62))


def _new_uuid7_value() -> int:
    """A UUIDv7 (RFC 9562) as its 128-bit integer: 48 bits of Unix milliseconds, then randomness
    (the version and variant bits set over it), so ids sort by time."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_random.take(10), "big")
    return value & _NOT_VERSION_OR_VARIANT | _VERSION_AND_VARIANT


def new_event_id() -> str:
    """A fresh UUIDv7, in its canonical form."""
    return canonical_uuid(_new_uuid7_value())


def new_compact_id() -> str:
    """A fresh UUIDv7 as 32 lowercase hex digits, without dashes (a request id)."""
    return f"{_new_uuid7_value():032x}"


def canonical_uuid(value: int) -> str:
    """``str(uuid.UUID(int=value))``, formatted directly: building the ``UUID`` took most of the time."""
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def idempotent_event_id(user_id: str, idempotency_key: str) -> str:
    """The same user and key always give the same id; different users never share one.

    The user id is length-prefixed so that no (user, key) pair can be spelled like another.
    """
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{len(user_id)}:{user_id}:{idempotency_key}"))


MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_idempotency_key(key: str, field: str = "Idempotency-Key") -> None:
    """Keys are opaque to us, but bounded and printable ASCII so they are safe to log and store.

    ``field`` names where the request carried the key: a header, or a field of a batch's event.
    """
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidEvent(field, f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long")
    if not all(" " <= char <= "~" for char in key):
        raise InvalidEvent(field, "must contain only printable ASCII characters")
