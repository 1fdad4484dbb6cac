"""Event ids derived from an idempotency key, and the rules such keys obey.

The bus deduplicates by id, so an id derived from (user, key) turns a client's retry into a no-op.
Fresh ids come from an id source the use case is given (``adapters.event_ids``).
"""

import uuid

from domain.errors import InvalidEvent

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3f0e-8a4b-5c2e-9d7a-3b5e1c0f2a94")


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
