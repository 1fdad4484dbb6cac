"""Logging set-up: one JSON object per line for machines, readable lines for a person at a terminal."""

import datetime
import json
import logging
import sys
from typing import Any, Literal

LogFormat = Literal["auto", "json", "console"]

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
"""Attributes every record has (and uvicorn's colour copy of its message), not extra fields."""


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...}`` plus every field passed with ``extra=``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and key[0] != "_"
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and key[0] != "_"
        )
        line = super().format(record)
        return f"{line} {extras}" if extras else line


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every logger's records to standard error, as JSON unless ``auto`` finds a terminal there."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
