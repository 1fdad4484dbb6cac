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


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness, so ids sort by time."""
    millis = time.time_ns() // 1_000_000
    value = int.from_bytes(millis.to_bytes(6, "big") + _random.take(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


def idempotent_event_id(user_id: str, idempotency_key: str) -> str:
    """The same user and key always give the same id; different users never share one.

    The user id is length-prefixed so that no (user, key) pair can be spelled like another.
    """
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{len(user_id)}:{user_id}:{idempotency_key}"))


MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_idempotency_key(key: str) -> None:
    """Keys are opaque to us, but bounded and printable ASCII so they are safe to log and store."""
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidEvent("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long")
    if not all(" " <= char <= "~" for char in key):
        raise InvalidEvent("Idempotency-Key", "must contain only printable ASCII characters")
