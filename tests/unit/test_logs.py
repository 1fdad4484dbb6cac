import json
import logging
import sys

from entrypoints.composition.logs import ConsoleFormatter, JsonFormatter


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
