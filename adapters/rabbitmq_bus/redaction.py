"""Keeping the broker's credentials out of logs and messages.

The URL's user information is the secret. aiormq masks the password in a connection's ``repr``;
``RedactCredentials`` also rewrites whatever else reaches its loggers while the bus is open.
"""

import logging
import urllib.parse

REDACTED_LOGGERS = ("aiormq", "aiormq.connection", "aiormq.channel")


def broker_name(url: str) -> str:
    """``host:port/vhost`` of an AMQP URL, without credentials: how messages name the broker."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


class Redactor:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        candidates = {parts.netloc.rpartition("@")[0], parts.password or ""}
        if parts.password:
            candidates.add(urllib.parse.unquote(parts.password))
        self._secrets = sorted((secret for secret in candidates if secret), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class RedactCredentials(logging.Filter):
    """Formats each record's message, drops its arguments and redacts the credentials from it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is still logged, without its arguments
            message = str(record.msg)
        record.msg, record.args = self._redact(message), None
        return True
