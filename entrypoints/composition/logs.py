"""Logging set-up: one JSON object per line for machines, readable lines for a person at a terminal."""

import datetime
import json
import logging
import re
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


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\\\\\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What a terminal would act on rather than show: C0 and C1 controls, DEL (and so ESC, CR and LF),
line and paragraph separators, bidi overrides; and the backslash, so that an escape is never ambiguous."""
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_QUOTES = re.compile('[\\s="]|^$')


def _escaped(match: re.Match[str]) -> str:
    character = match.group()
    escape = _ESCAPES.get(character)
    if escape is not None:
        return escape
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def console_safe(text: str) -> str:
    """``text`` with every character a terminal would act on written as a Python-style escape."""
    return _UNSAFE.sub(_escaped, text)


def _console_value(value: object) -> str:
    """A field's value, escaped, and in double quotes when it holds a space, ``=`` or ``"`` (or is
    empty), so that no value reads as more fields."""
    text = console_safe(str(value))
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for people.

    Fields carry what clients sent (a request's path), so each is escaped: a record is one line,
    whatever it holds, and writes no terminal escape. A traceback follows on lines of its own, each
    indented, so that only a record starts a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{self.formatTime(record)} {console_safe(record.levelname):<7} "
            f"{console_safe(record.name)}: {console_safe(record.getMessage())}"
        )
        extras = " ".join(
            f"{console_safe(key)}={_console_value(value)}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and key[0] != "_"
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line += _indented(self.formatException(record.exc_info))
        if record.stack_info:
            line += _indented(self.formatStack(record.stack_info))
        return line


def _indented(text: str) -> str:
    return "".join(f"\n    {console_safe(part)}" for part in text.split("\n"))


QUIET_LOGGERS = ("httpx",)
"""Libraries whose INFO lines repeat per request what eventgate's own metrics and logs say (httpx: one
line per POST of the relay); they write warnings and errors, and everything at ``debug`` level."""


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every logger's records to standard error, as JSON unless ``auto`` finds a terminal there."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "debug" else logging.WARNING)
