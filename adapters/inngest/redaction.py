"""Keeping event keys out of logs and messages.

The key is a path segment of the event API URL (``/e/{key}``), so any text holding that URL holds
the secret; a server may also echo the key as a word of its own ("event key ... not found"). It is
redacted where it stands, in either place, and nowhere else: a short key's letters inside other
words ("socket" for the key ``k``) are left alone.

httpx logs every request's full URL on the ``httpx`` logger, which is why the HTTP client installs
``RedactEventKeys`` there (and on the other loggers that may write a URL) for as long as it is open.
"""

import logging
import re

_EVENT_PATH = re.compile(r"/e/[^/?#\s'\"<>]+")
_REDACTED_PATH = "/e/***"
_REDACTED = "***"
_KEY_CHARACTER = r"[\w.~%+=-]"
"""Characters of a key and of the words around it: the key counts as a word when none touches it."""


def redact(text: str, key: str | None = None) -> str:
    """The text with the key of every event API path replaced by ``***``, and ``key`` where it is a word."""
    text = _EVENT_PATH.sub(_REDACTED_PATH, text)
    if key:
        text = re.sub(rf"(?<!{_KEY_CHARACTER}){re.escape(key)}(?!{_KEY_CHARACTER})", _REDACTED, text)
    return text


class RedactEventKeys(logging.Filter):
    """Rewrites log records so that event API URLs in their message lose their key.

    The message is formatted first and its arguments dropped, since a key may be spread over the
    format string and an argument (``"POST /e/%s"``), or hidden in an argument of any type.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is still logged, without its arguments
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True
