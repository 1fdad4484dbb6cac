"""Logging set-up: one JSON object per line for machines, readable lines for a person at a terminal.

Every record goes to standard error through one ``LineWriter`` per process (``log_writer``), written
by a thread of its own: warnings and errors at once, info and debug lines (the access log) gathered
and written a moment later, so that no request waits on a write.
"""

import datetime
import json
import logging
import re
import sys
from typing import Any, Literal

from entrypoints.composition.log_writer import LineWriter

LogFormat = Literal["auto", "json", "console"]

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
"""Attributes every record has (and uvicorn's colour copy of its message), not extra fields."""


_MILLISECONDS = tuple(f".{millisecond:03d}+00:00" for millisecond in range(1000))


class UtcTimestamps:
    """``2026-01-01T00:00:00.000+00:00`` for a Unix time: ISO 8601, milliseconds, UTC.

    The date and time of day are formatted once per second, the milliseconds each time: the access
    log asks for a timestamp per request.
    """

    def __init__(self) -> None:
        self._second_formatted = (-1, "")

    def __call__(self, unix_time: float) -> str:
        second = int(unix_time)
        cached, prefix = self._second_formatted
        if second != cached:
            prefix = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second_formatted = (second, prefix)
        return prefix + _MILLISECONDS[int((unix_time - second) * 1000)]


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...}`` plus every field passed with ``extra=``."""

    def __init__(self) -> None:
        super().__init__()
        self._timestamp = UtcTimestamps()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
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
        return json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))


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


MAX_BACKLOG_BYTES = 8 * 1024 * 1024
"""Lines waiting to be written, at most, before info and debug lines are dropped (and counted)."""
GATHER_SECONDS = 0.05
"""How long the writer gathers info and debug lines before one write carries them all."""
URGENT_WAIT_SECONDS = 0.1
"""How long a warning's caller waits, at most, for the warning (and all before it) to be written."""
DROP_WARNING_INTERVAL_SECONDS = 10.0
"""At most one warning about dropped lines per this many seconds; each says how many since the last."""
CLOSING_WAIT_SECONDS = 5.0
"""How long the end of a process waits, at most, for its last lines to be written."""
DROPS_LOGGER = "eventgate.log"


class LineHandler(logging.Handler):
    """Each record as one line (or, for a console traceback, one group of lines) through ``writer``:
    warnings and errors at once, info and debug soon; ``writes_json`` tells which formatter it has."""

    def __init__(
        self, fd: int, formatter: logging.Formatter, *, gather_seconds: float = GATHER_SECONDS
    ) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.writes_json = isinstance(formatter, JsonFormatter)
        self.writer = LineWriter(
            fd,
            max_backlog_bytes=MAX_BACKLOG_BYTES,
            gather_seconds=gather_seconds,
            urgent_wait=URGENT_WAIT_SECONDS,
            drop_warning=self.drop_warning,
            drop_warning_interval=DROP_WARNING_INTERVAL_SECONDS,
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode("utf-8", "backslashreplace")
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.writer.write_now(line)
        else:
            self.writer.write_soon(line)

    def flush(self) -> None:
        self.writer.flush(CLOSING_WAIT_SECONDS)

    def close(self) -> None:
        self.writer.close(CLOSING_WAIT_SECONDS)
        super().close()

    def drop_warning(self, count: int) -> bytes:
        """The warning line that ``count`` lines were dropped, as this handler writes a warning."""
        record = logging.makeLogRecord(
            {
                "name": DROPS_LOGGER,
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": "%d log lines were dropped: standard error was not read as fast as they came",
                "args": (count,),
                "dropped_lines": count,
            }
        )
        return self.format(record).encode("utf-8", "backslashreplace")


def line_handler() -> LineHandler | None:
    """The ``LineHandler`` ``configure_logging`` gave the root logger, if it is there."""
    return next(
        (handler for handler in logging.getLogger().handlers if isinstance(handler, LineHandler)), None
    )


def write_logs_through() -> None:
    """Write what eventgate's log handler holds, then every later line at once, by its caller.

    For the end of a server: uvicorn ends a process that received SIGTERM by raising the signal
    again once it has shut down, which ends it before any exit handler could write what is queued.
    """
    handler = line_handler()
    if handler is not None:
        handler.writer.close(CLOSING_WAIT_SECONDS)


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every logger's records to standard error, as JSON unless ``auto`` finds a terminal there.

    Called again (a worker process configures itself as ``eventgate serve`` did), it writes what the
    previous handler still holds and replaces it.
    """
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = LineHandler(sys.stderr.fileno(), JsonFormatter() if as_json else ConsoleFormatter())
    root = logging.getLogger()
    replaced = root.handlers[:]
    root.handlers[:] = [handler]
    for previous in replaced:
        if isinstance(previous, LineHandler):
            previous.close()
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "debug" else logging.WARNING)
