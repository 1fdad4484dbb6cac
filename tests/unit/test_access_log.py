"""The access log line of one exchange: its fields, its JSON shape, and its outcome in one word."""

import datetime
import json
import logging
from collections.abc import Iterator
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.composition.logs import JsonFormatter, configure_logging
from entrypoints.http.access_log import JsonAccessLog, access_log, log_exchange
from entrypoints.http.edge import Exchange

ANY_TEXT = st.text(st.characters(exclude_categories=()))
"""Any text, lone surrogates included (a user id from a JSON token may hold one)."""
NOW = 1_796_522_671.0421
"""2026-12-06T02:04:31.042 UTC."""


def an_exchange(
    status: int = 200,
    problem_type: str | None = None,
    *,
    path: str = "/api",
    user_id: str | None = "ada",
    event_ids: list[str] | None = None,
) -> Exchange:
    return Exchange("req-1", "POST", path, "/api", status, problem_type, 0.0123, user_id, event_ids)


class Lines:
    """What a ``JsonAccessLog`` hands over: one encoded line (no newline) per exchange."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def parsed(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.written]


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def access_at_info() -> Iterator[None]:
    access = logging.getLogger("eventgate.access")
    level = access.level
    access.setLevel(logging.INFO)
    yield
    access.setLevel(level)


@pytest.mark.usefixtures("access_at_info")
def test_a_json_line_holds_every_field_in_the_order_of_every_other_json_line(lines: Lines) -> None:
    log = JsonAccessLog(lines.written.append, clock=lambda: NOW)

    log(an_exchange(200, event_ids=["e1", "e2"]))

    [line] = lines.written
    assert line == (
        b'{"ts":"2026-12-06T02:04:31.042+00:00","level":"info","logger":"eventgate.access",'
        b'"message":"POST /api 200","request_id":"req-1","method":"POST","path":"/api","status":200,'
        b'"duration_ms":12.3,"user_id":"ada","event_ids":["e1","e2"],"outcome":"ok"}'
    )


@pytest.mark.usefixtures("access_at_info")
@pytest.mark.parametrize(
    "exchange",
    [
        an_exchange(200, event_ids=["e1"]),
        an_exchange(401, "unauthenticated", user_id=None),
        an_exchange(404, path='/x\n\x1b[2J"\\ é\u2028'),
    ],
)
def test_a_json_line_is_what_the_json_formatter_makes_of_the_access_record(
    lines: Lines, caplog: pytest.LogCaptureFixture, exchange: Exchange
) -> None:
    JsonAccessLog(lines.written.append, clock=lambda: NOW)(exchange)
    log_exchange(exchange)
    [record] = caplog.records
    record.created = NOW

    assert lines.written == [JsonFormatter().format(record).encode()]


@pytest.mark.usefixtures("access_at_info")
@given(path=ANY_TEXT, user_id=ANY_TEXT | st.none())
def test_a_json_line_is_one_line_of_utf_8_that_reads_back_as_what_was_logged_whatever_it_holds(
    path: str, user_id: str | None
) -> None:
    written: list[bytes] = []

    JsonAccessLog(written.append)(an_exchange(404, path=path, user_id=user_id))

    [line] = written
    assert b"\n" not in line
    entry = json.loads(line.decode("utf-8"))  # strict: only UTF-8
    assert (entry["path"], entry["user_id"]) == (path, user_id)


@pytest.mark.usefixtures("access_at_info")
def test_the_timestamp_is_utc_to_the_millisecond(lines: Lines) -> None:
    times = [NOW, NOW + 0.9995, NOW + 1, 0.0, 1_800_000_000.5]
    log = JsonAccessLog(lines.written.append, clock=lambda: times.pop(0))

    for _ in range(5):
        log(an_exchange())

    stamps = [entry["ts"] for entry in lines.parsed()]
    assert stamps == [
        "2026-12-06T02:04:31.042+00:00",
        "2026-12-06T02:04:32.041+00:00",
        "2026-12-06T02:04:32.042+00:00",
        "1970-01-01T00:00:00.000+00:00",
        "2027-01-15T08:00:00.500+00:00",
    ]
    assert all(
        datetime.datetime.fromisoformat(str(stamp)).utcoffset() == datetime.timedelta(0) for stamp in stamps
    )


@pytest.mark.parametrize(
    ("status", "problem_type", "outcome"),
    [
        (200, None, "ok"),
        (204, None, "ok"),
        (401, "unauthenticated", "unauthenticated"),
        (400, None, "http-400"),
    ],
)
def test_the_outcome_is_ok_the_problem_type_or_the_status(
    caplog: pytest.LogCaptureFixture, lines: Lines, status: int, problem_type: str | None, outcome: str
) -> None:
    caplog.set_level(logging.INFO, logger="eventgate.access")

    log_exchange(an_exchange(status, problem_type))
    JsonAccessLog(lines.written.append)(an_exchange(status, problem_type))

    [record] = caplog.records
    assert record.getMessage() == f"POST /api {status}"
    assert (record.__dict__["outcome"], record.__dict__["request_id"]) == (outcome, "req-1")
    assert record.__dict__["duration_ms"] == 12.3
    [entry] = lines.parsed()
    assert (entry["outcome"], entry["message"]) == (outcome, f"POST /api {status}")


def test_nothing_is_logged_below_info(caplog: pytest.LogCaptureFixture, lines: Lines) -> None:
    caplog.set_level(logging.WARNING, logger="eventgate.access")

    log_exchange(an_exchange(200))
    JsonAccessLog(lines.written.append)(an_exchange(200))

    assert (caplog.records, lines.written) == ([], [])


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("console", False)])
def test_json_lines_go_straight_to_eventgate_s_handler_and_console_lines_as_records(
    log_format: Literal["json", "console"], json_lines: bool
) -> None:
    configure_logging("info", log_format)

    assert isinstance(access_log(), JsonAccessLog) is json_lines
    assert (access_log() is log_exchange) is not json_lines


def test_another_handler_gets_a_log_record() -> None:
    assert access_log() is log_exchange
