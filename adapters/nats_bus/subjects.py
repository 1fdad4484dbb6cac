"""Event names as NATS subjects, and back.

A subject is ``<prefix>.<event name>``, the name written so that every token of it is one a
subject can hold. The rule, reversible by percent-decoding (``urllib.parse.unquote``):

- ``%`` becomes ``%25``; whitespace (``str.isspace``), ``*`` and ``>`` become ``%`` and the two
  upper-case hex digits of each of their UTF-8 bytes (`` `` is ``%20``, ``*`` is ``%2A``, ``>`` is
  ``%3E``);
- a ``.`` stays, except where it would leave a token empty (first or last in the name, or next to
  another ``.``): there it becomes ``%2E``;
- every other character stays as it is, ``/`` included.

So ``app/user.clicked`` is ``eventgate.app/user.clicked``, ``eventgate.>`` subscribes to every event,
``eventgate.app/user.*`` to the user's, and ``a b`` is ``eventgate.a%20b``.
"""

import functools
import urllib.parse

WILDCARDS = frozenset("*>")


def _escape(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode("utf-8"))


@functools.lru_cache(maxsize=4096)
def subject_token(name: str) -> str:
    """The event name as it follows the prefix in a subject: one or more non-empty tokens."""
    last = len(name) - 1
    out = []
    for index, character in enumerate(name):
        if character == ".":
            lonely = index in (0, last) or name[index - 1] == "." or name[index + 1] == "."
            out.append("%2E" if lonely else ".")
        elif character == "%" or character in WILDCARDS or character.isspace():
            out.append(_escape(character))
        else:
            out.append(character)
    return "".join(out)


def event_name(token: str) -> str:
    """The event name that ``subject_token`` wrote as ``token``."""
    return urllib.parse.unquote(token, errors="strict")


def check_prefix(prefix: str) -> None:
    """Raise ``ValueError`` unless ``prefix`` is a literal subject: dot-separated non-empty tokens."""
    tokens = prefix.split(".")
    if not prefix or any(not token for token in tokens):
        raise ValueError(f"the subject prefix {prefix!r} must be non-empty tokens separated by dots")
    if any(character in WILDCARDS or character.isspace() for character in prefix):
        raise ValueError(f"the subject prefix {prefix!r} must not hold whitespace, '*' or '>'")


def covers(filter_subject: str, prefix: str) -> bool:
    """Whether a stream capturing ``filter_subject`` captures every subject under ``prefix``."""
    wanted = prefix.split(".")
    for index, part in enumerate(filter_subject.split(".")):
        if part == ">":
            return True
        if index >= len(wanted) or part not in ("*", wanted[index]):
            return False
    return False
