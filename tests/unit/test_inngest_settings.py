"""The adapter's section of the settings tree, read from environment variables."""

import httpx
import pytest

from adapters.inngest import BatchLimits, HttpClientSettings, InngestConfigError, RetryPolicy
from entrypoints.composition.environment import ConfigError
from tests.containers import inngest_endpoint_from, inngest_settings_from

KEY = {"INNGEST_EVENT_KEY": "evtkey-0123456789abcdef"}


def test_without_tuning_variables_every_setting_takes_its_default() -> None:
    settings = inngest_settings_from(KEY)

    assert settings.endpoint() == inngest_endpoint_from(KEY)
    assert settings.http() == HttpClientSettings()
    assert settings.retry() == RetryPolicy()
    assert settings.limits() == BatchLimits()


def test_reads_every_tuning_variable() -> None:
    settings = inngest_settings_from(
        {
            **KEY,
            "EVENTGATE_INNGEST_CONNECT_TIMEOUT": "1.5",
            "EVENTGATE_INNGEST_READ_TIMEOUT": "2",
            "EVENTGATE_INNGEST_WRITE_TIMEOUT": "3",
            "EVENTGATE_INNGEST_POOL_TIMEOUT": "4",
            "EVENTGATE_INNGEST_MAX_CONNECTIONS": "50",
            "EVENTGATE_INNGEST_MAX_KEEPALIVE_CONNECTIONS": "10",
            "EVENTGATE_INNGEST_KEEPALIVE_EXPIRY": "30",
            "EVENTGATE_INNGEST_MAX_ATTEMPTS": "3",
            "EVENTGATE_INNGEST_PUBLISH_DEADLINE": "7.5",
            "EVENTGATE_INNGEST_MAX_REQUEST_BYTES": " 3145728 ",
        }
    )

    assert settings.http().timeout == httpx.Timeout(connect=1.5, read=2, write=3, pool=4)
    assert settings.http().limits == httpx.Limits(
        max_connections=50, max_keepalive_connections=10, keepalive_expiry=30
    )
    assert (settings.retry().max_attempts, settings.retry().deadline) == (3, 7.5)
    assert settings.limits().max_bytes == 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENTGATE_INNGEST_READ_TIMEOUT", "soon"),
        ("EVENTGATE_INNGEST_READ_TIMEOUT", "0"),
        ("EVENTGATE_INNGEST_READ_TIMEOUT", "-1"),
        ("EVENTGATE_INNGEST_READ_TIMEOUT", "nan"),
        ("EVENTGATE_INNGEST_PUBLISH_DEADLINE", "inf"),
        ("EVENTGATE_INNGEST_MAX_ATTEMPTS", "2.5"),
        ("EVENTGATE_INNGEST_MAX_CONNECTIONS", "0"),
        ("EVENTGATE_INNGEST_MAX_REQUEST_BYTES", "lots"),
    ],
)
def test_a_value_that_is_not_a_positive_number_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.* must be a positive"):
        inngest_settings_from({**KEY, name: value})


def test_more_keep_alive_connections_than_connections_is_a_configuration_error() -> None:
    settings = inngest_settings_from(
        {
            **KEY,
            "EVENTGATE_INNGEST_MAX_CONNECTIONS": "5",
            "EVENTGATE_INNGEST_MAX_KEEPALIVE_CONNECTIONS": "6",
        }
    )

    with pytest.raises(ValueError, match="max_keepalive_connections"):
        settings.http()


def test_an_endpoint_error_comes_through_unchanged() -> None:
    with pytest.raises(InngestConfigError, match="INNGEST_EVENT_KEY is not set"):
        inngest_settings_from({}).endpoint()
