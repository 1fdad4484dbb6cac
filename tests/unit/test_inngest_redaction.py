"""Event keys never reach a log line or a message in the clear."""

import logging
from typing import Any

import httpx
import pytest

from adapters.inngest.redaction import RedactEventKeys, redact

KEY = "evtkey-5eCr3t-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"POST https://inn.gs/e/{KEY} 200", "POST https://inn.gs/e/*** 200"),
        (f"https://proxy.example/inngest/e/{KEY}?x=1", "https://proxy.example/inngest/e/***?x=1"),
        (f"<Request('POST', 'https://inn.gs/e/{KEY}')>", "<Request('POST', 'https://inn.gs/e/***')>"),
        ("https://inn.gs/health", "https://inn.gs/health"),
    ],
)
def test_redacts_the_key_of_every_event_api_path(text: str, redacted: str) -> None:
    assert redact(text) == redacted


@pytest.mark.parametrize(
    ("text", "key", "redacted"),
    [
        ("Timeout on reading data from socket", "k", "Timeout on reading data from socket"),
        ("POST http://127.0.0.1:8288/e/k failed", "k", "POST http://127.0.0.1:8288/e/*** failed"),
        (f"event key {KEY} not found", KEY, "event key *** not found"),
        (f'"key": "{KEY}"', KEY, '"key": "***"'),
        (f"{KEY}-suffix and prefix-{KEY}", KEY, f"{KEY}-suffix and prefix-{KEY}"),
    ],
    ids=["letters-of-a-short-key-in-a-word", "in-the-path", "as-a-word", "quoted", "part-of-a-longer-word"],
)
def test_redacts_the_key_where_it_stands_and_nowhere_else(text: str, key: str, redacted: str) -> None:
    assert redact(text, key) == redacted


def test_the_filter_redacts_httpx_request_log_records() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s %d %s"',
        ("POST", httpx.URL(f"https://inn.gs/e/{KEY}"), "HTTP/1.1", 200, "OK"),
        None,
    )

    assert RedactEventKeys().filter(record)

    assert record.getMessage() == 'HTTP Request: POST https://inn.gs/e/*** "HTTP/1.1 200 OK"'


def test_the_filter_redacts_a_message_without_arguments() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, f"GET https://inn.gs/e/{KEY}", None, None)

    RedactEventKeys().filter(record)

    assert record.getMessage() == "GET https://inn.gs/e/***"


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("POST https://inn.gs/e/%s", (KEY,)),
        ("sent to %(url)s", ({"url": f"https://inn.gs/e/{KEY}"},)),
        ("failed: %r", (ValueError(f"https://inn.gs/e/{KEY}"),)),
    ],
    ids=["key-from-an-argument-into-the-path", "mapping-argument", "exception-argument"],
)
def test_the_filter_redacts_a_key_however_the_message_is_put_together(message: str, args: Any) -> None:
    record = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, args, None)

    RedactEventKeys().filter(record)

    assert KEY not in record.getMessage()
    assert "/e/***" in record.getMessage()


def test_the_filter_keeps_a_record_whose_arguments_do_not_fit_its_message() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, f"GET /e/{KEY} %d", ("not a number",), None
    )

    assert RedactEventKeys().filter(record)

    assert record.getMessage() == "GET /e/*** %d"
