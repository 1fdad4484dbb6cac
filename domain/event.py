"""A user event and the rules every event obeys before any bus sees it."""

import enum
import fnmatch
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from domain.errors import EventNotAllowed, EventTooLarge, InvalidEvent
from domain.user import User

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


class _Absent(enum.Enum):
    ABSENT = "absent"


ABSENT = _Absent.ABSENT
"""Marks a payload the client did not send, as distinct from one it sent as ``null``."""
Absent: TypeAlias = Literal[_Absent.ABSENT]

MAX_NAME_LENGTH = 255
FORBIDDEN_NAME_CHARACTERS = (
    "\\x00-\\x1f\\x7f-\\x9f\\xad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2\\u180e"
    "\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb\\U000110bd"
    "\\U000110cd\\U00013430-\\U00013438\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0001"
    "\\U000e0020-\\U000e007f"
)
"""The characters a name may not hold, as the inside of a regular expression's ``[...]``: Unicode's
control characters (``Cc``), and those that change how a name looks without being seen, format
characters (``Cf``: bidi overrides, zero-width spaces) and line and paragraph separators (``Zl``,
``Zp``), as Unicode 14 (Python 3.11) has them."""
_FORBIDDEN_CHARACTER = re.compile(f"[{FORBIDDEN_NAME_CHARACTERS}]")
_FORBIDDEN_KINDS = {
    "Cf": "a format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
RESERVED_NAME_PREFIX = "inngest/"
DEFAULT_MAX_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One thing a user did: ``data`` holds the session user and the client's payload."""

    name: str
    data: Mapping[str, JsonValue]
    id: str
    ts: int

    def to_wire(self) -> dict[str, JsonValue]:
        """The event as event buses receive it."""
        return {"name": self.name, "data": dict(self.data), "id": self.id, "ts": self.ts}


def serialized_size(event: UserEvent) -> int:
    """Bytes of the event as compact UTF-8 JSON, the form in which buses measure it."""
    text = json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class EventRules:
    """The limits an event must respect.

    The size limit is configurable; so is ``allowed_names``, glob patterns (``app/*``) of which a
    name must match one when any are given. The other name rules are fixed. ``measure`` gives an
    event's size in bytes of compact JSON; adapters may supply a faster encoder than the default.
    """

    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    allowed_names: tuple[str, ...] = ()
    measure: Callable[[UserEvent], int] = field(default=serialized_size)

    def check(self, event: UserEvent) -> None:
        """Raise ``InvalidEvent`` (or ``EventNotAllowed``) naming what is wrong, or return when valid."""
        check_event_name(event.name)
        self.check_name_allowed(event.name)
        size = self.measure(event)
        if size > self.max_event_bytes:
            raise EventTooLarge(size, self.max_event_bytes)

    def check_name_allowed(self, name: str) -> None:
        if not self.allowed_names:
            return
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed_names):
            raise EventNotAllowed(name, self.allowed_names)


def check_event_name(name: str) -> None:
    """Names are what functions subscribe to: not blank, bounded, printable, with nothing invisible,
    and not Inngest's own in any case or spacing."""
    if not name:
        raise InvalidEvent("name", "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidEvent("name", f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    forbidden = _FORBIDDEN_CHARACTER.search(name)
    if forbidden is not None:
        _refuse_character(forbidden.group())
    if name.isspace():
        raise InvalidEvent("name", "must not be blank")
    if _looks_reserved(name):
        raise InvalidEvent("name", f"must not start with {RESERVED_NAME_PREFIX!r}, which Inngest reserves")


def _refuse_character(character: str) -> None:
    kind = _FORBIDDEN_KINDS.get(unicodedata.category(character))
    if kind is None:
        raise InvalidEvent("name", "must not contain control characters")
    raise InvalidEvent("name", f"must not contain U+{ord(character):04X}, {kind}")


def _looks_reserved(name: str) -> bool:
    """Whether ``name`` reads as Inngest's prefix: after trimming, in any case, in any compatible
    form (``inngest/`` in fullwidth letters is the same prefix to a reader)."""
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
    return name.strip().casefold().startswith(RESERVED_NAME_PREFIX)


def user_event_data(user: User, payload: JsonValue | Absent) -> dict[str, JsonValue]:
    """The event data: the session's user (never the client's) and the payload when one was sent."""
    data: dict[str, JsonValue] = {"user": dict(user.to_event_data())}
    if payload is not ABSENT:
        data["payload"] = payload
    return data
