import codecs
import json
import logging
import os
import re
import select
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.composition.logs import (
    ConsoleFormatter,
    JsonFormatter,
    LineHandler,
    configure_logging,
    console_safe,
    line_handler,
)


def a_record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "eventgate.access", "levelno": logging.INFO, "levelname": "INFO"})
    record.msg, record.args = "POST %s %d", ("/api", 200)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_message_and_every_extra_field() -> None:
    line = json.loads(JsonFormatter().format(a_record(request_id="r1", event_ids=["e1"])))

    assert line["message"] == "POST /api 200"
    assert (line["level"], line["logger"]) == ("info", "eventgate.access")
    assert (line["request_id"], line["event_ids"]) == ("r1", ["e1"])
    assert line["ts"].endswith("+00:00")


def fail() -> None:
    raise ValueError("boom")


def test_json_lines_hold_the_traceback_of_an_exception() -> None:
    try:
        fail()
    except ValueError:
        record = a_record()
        record.exc_info = sys.exc_info()

    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


def test_console_lines_are_readable_with_the_extra_fields_at_the_end() -> None:
    line = ConsoleFormatter().format(a_record(request_id="r1"))

    assert "INFO    eventgate.access: POST /api 200 request_id=r1" in line


def a_request_record(path: str) -> logging.LogRecord:
    record = a_record(path=path, status=404)
    record.args = ("POST", path, 404)
    record.msg = "%s %s %d"
    return record


# What a terminal acts on: C0 and C1 controls, DEL, line and paragraph separators, bidi overrides.
TERMINAL_ACTS_ON = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_console_lines_show_a_path_s_line_breaks_and_escapes_instead_of_writing_them() -> None:
    path = "/x\r\n2026-01-01 00:00:00,000 INFO    eventgate.access: POST /api 200 user_id=ada\x1b[2J"

    line = ConsoleFormatter().format(a_request_record(path))

    assert line.splitlines() == [line]
    assert TERMINAL_ACTS_ON.search(line) is None
    assert "POST /x\\r\\n2026-01-01" in line
    assert "user_id=ada\\x1b[2J 404" in line


def test_console_fields_holding_spaces_or_equals_signs_are_quoted_so_they_read_as_one_field() -> None:
    line = ConsoleFormatter().format(a_record(path='/x user_id=ada "q"', user_id="", event_ids=["e1", "e2"]))

    assert 'path="/x user_id=ada \\"q\\""' in line
    assert 'user_id=""' in line
    assert "event_ids=\"['e1', 'e2']\"" in line


def raise_with(message: str) -> None:
    raise ValueError(message)


def test_console_tracebacks_are_indented_lines_under_their_record_whatever_the_error_says() -> None:
    try:
        raise_with("bad\n2026-01-01 00:00:00,000 INFO    eventgate.access: forged\x1b[2J")
    except ValueError:
        record = a_record()
        record.exc_info = sys.exc_info()

    first, *rest = ConsoleFormatter().format(record).split("\n")

    assert "POST /api 200" in first
    assert rest
    assert all(part.startswith("    ") for part in rest)
    assert any("forged\\x1b[2J" in part for part in rest)
    assert TERMINAL_ACTS_ON.search("".join(rest)) is None


@given(message=st.text(), value=st.text())
def test_a_console_record_is_one_line_without_terminal_controls_whatever_its_fields_hold(
    message: str, value: str
) -> None:
    record = a_record(path=value)
    record.msg, record.args = message, ()

    line = ConsoleFormatter().format(record)

    assert TERMINAL_ACTS_ON.search(line) is None
    assert len(line.splitlines()) == 1


@given(st.text())
def test_console_escapes_read_back_as_the_text_they_stand_for(text: str) -> None:
    escaped = console_safe(text).encode("ascii", "backslashreplace")
    assert codecs.decode(escaped, "unicode_escape") == text


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level
    httpx_logger.setLevel(httpx_level)


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize(
    ("level", "request_lines_shown"), [("info", False), ("warning", False), ("debug", True)]
)
def test_httpx_writes_its_line_per_request_only_at_debug_level_but_its_warnings_always(
    level: str, request_lines_shown: bool
) -> None:
    configure_logging(level, "json")
    httpx_logger = logging.getLogger("httpx")

    assert httpx_logger.isEnabledFor(logging.INFO) is request_lines_shown
    assert httpx_logger.isEnabledFor(logging.WARNING)


class PipeHandler:
    """A ``LineHandler`` writing to a real pipe that the test reads."""

    def __init__(self, log_format: logging.Formatter, *, gather_seconds: float) -> None:
        self.read_end, write_end = os.pipe()
        self.handler = LineHandler(write_end, log_format, gather_seconds=gather_seconds)
        self.logger = logging.getLogger("eventgate.test-pipe")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def available(self, wait: float) -> bytes:
        ready, _, _ = select.select([self.read_end], [], [], wait)
        return os.read(self.read_end, 1 << 16) if ready else b""

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.propagate = True
        self.handler.close()
        os.close(self.read_end)


@pytest.fixture
def pipe_handler() -> Iterator[PipeHandler]:
    opened = PipeHandler(JsonFormatter(), gather_seconds=60.0)
    yield opened
    opened.close()


def test_a_warning_goes_out_at_once_after_the_info_lines_before_it(pipe_handler: PipeHandler) -> None:
    pipe_handler.logger.info("first")
    assert pipe_handler.available(wait=0.2) == b"", "info lines are gathered"

    pipe_handler.logger.warning("then this")

    lines = [json.loads(line) for line in pipe_handler.available(wait=10).splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("info", "first"),
        ("warning", "then this"),
    ]


def test_the_handler_s_flush_writes_the_info_lines_it_holds(pipe_handler: PipeHandler) -> None:
    pipe_handler.logger.debug("held")

    pipe_handler.handler.flush()

    assert json.loads(pipe_handler.available(wait=10))["message"] == "held"


def test_the_warning_about_dropped_lines_is_a_warning_line_of_the_handler_s_format() -> None:
    for formatter in (JsonFormatter(), ConsoleFormatter()):
        opened = PipeHandler(formatter, gather_seconds=60.0)
        try:
            warning = opened.handler.drop_warning(12)
        finally:
            opened.close()
        if isinstance(formatter, JsonFormatter):
            entry = json.loads(warning)
            assert (entry["level"], entry["logger"], entry["dropped_lines"]) == (
                "warning",
                "eventgate.log",
                12,
            )
            assert entry["message"].startswith("12 log lines were dropped")
        else:
            assert b"WARNING eventgate.log: 12 log lines were dropped" in warning


@pytest.mark.usefixtures("logging_restored")
def test_configuring_logging_again_writes_what_the_previous_handler_held_and_replaces_it() -> None:
    configure_logging("info", "json")
    [first] = logging.getLogger().handlers
    assert isinstance(first, LineHandler)

    configure_logging("info", "json")

    [second] = logging.getLogger().handlers
    assert second is not first
    assert line_handler() is second
    assert first.writer.flush(0) is True
    second.close()
