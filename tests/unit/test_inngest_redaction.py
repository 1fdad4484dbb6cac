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
