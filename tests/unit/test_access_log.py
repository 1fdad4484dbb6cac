"""The access log line of one exchange: its fields, and its outcome in one word."""

import logging

import pytest

from entrypoints.http.access_log import log_exchange
from entrypoints.http.edge import Exchange


def an_exchange(status: int, problem_type: str | None = None) -> Exchange:
    return Exchange("req-1", "POST", "/api", "/api", status, problem_type, 0.0123, None, None)


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
    caplog: pytest.LogCaptureFixture, status: int, problem_type: str | None, outcome: str
) -> None:
    caplog.set_level(logging.INFO, logger="eventgate.access")

    log_exchange(an_exchange(status, problem_type))

    [record] = caplog.records
    assert record.getMessage() == f"POST /api {status}"
    assert (record.__dict__["outcome"], record.__dict__["request_id"]) == (outcome, "req-1")
    assert record.__dict__["duration_ms"] == 12.3


def test_nothing_is_logged_below_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="eventgate.access")

    log_exchange(an_exchange(200))

    assert caplog.records == []
