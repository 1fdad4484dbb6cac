"""Keeping event keys out of logs and messages.

The key is a path segment of the event API URL (``/e/{key}``), so any text holding that URL holds
the secret. httpx logs every request's full URL at INFO on the ``httpx`` logger, which is why the
HTTP client installs ``RedactEventKeys`` there for as long as it is open.
"""

import logging
import re

import httpx

_EVENT_PATH = re.compile(r"/e/[^/?#\s'\"<>]+")
_REDACTED_PATH = "/e/***"


def redact(text: str) -> str:
    """The text with the key of every event API path replaced by ``***``."""
    return _EVENT_PATH.sub(_REDACTED_PATH, text)


class RedactEventKeys(logging.Filter):
    """Rewrites log records so that event API URLs in their message or arguments lose their key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, str | httpx.URL) else arg for arg in record.args
            )
        return True
