"""Resolving the event API from the SDKs' environment variables, with the SDKs' precedence."""

import pytest

from adapters.inngest import InngestConfigError, InngestEndpoint, Mode
from tests.containers import inngest_endpoint_from

KEY = "evtkey-0123456789abcdef"
CLOUD = "https://inn.gs"
DEV_SERVER = "http://127.0.0.1:8288"
PLACEHOLDER = "NO_EVENT_KEY_SET"


@pytest.mark.parametrize(
    ("environ", "base_url", "event_key", "mode"),
    [
        ({"INNGEST_EVENT_KEY": KEY}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_EVENT_KEY": f"  {KEY}\n"}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_DEV": "0"}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_DEV": "false"}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_DEV": " FALSE "}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_DEV": ""}, CLOUD, KEY, Mode.CLOUD),
        ({"INNGEST_DEV": "1"}, DEV_SERVER, PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "true"}, DEV_SERVER, PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": " True "}, DEV_SERVER, PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "1", "INNGEST_EVENT_KEY": ""}, DEV_SERVER, PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "1", "INNGEST_EVENT_KEY": KEY}, DEV_SERVER, KEY, Mode.DEV),
        ({"INNGEST_DEV": "http://localhost:9999"}, "http://localhost:9999", PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "http://localhost:9999/"}, "http://localhost:9999", PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "localhost:9999"}, "http://localhost:9999", PLACEHOLDER, Mode.DEV),
        ({"INNGEST_DEV": "dev.example.com"}, "http://dev.example.com", PLACEHOLDER, Mode.DEV),
        (
            {"INNGEST_DEV": "https://dev.example.com/inngest/"},
            "https://dev.example.com/inngest",
            PLACEHOLDER,
            Mode.DEV,
        ),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "https://proxy.example.com/inngest"},
            "https://proxy.example.com/inngest",
            KEY,
            Mode.CLOUD,
        ),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "https://proxy.example.com/a/b/"},
            "https://proxy.example.com/a/b",
            KEY,
            Mode.CLOUD,
        ),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "proxy.example.com"},
            "https://proxy.example.com",
            KEY,
            Mode.CLOUD,
        ),
        (
            {"INNGEST_DEV": "1", "INNGEST_BASE_URL": "devserver:8288"},
            "http://devserver:8288",
            PLACEHOLDER,
            Mode.DEV,
        ),
        (
            {
                "INNGEST_EVENT_KEY": KEY,
                "INNGEST_EVENT_API_BASE_URL": "https://a.example",
                "INNGEST_BASE_URL": "https://b.example",
            },
            "https://a.example",
            KEY,
            Mode.CLOUD,
        ),
        (
            {
                "INNGEST_EVENT_KEY": KEY,
                "INNGEST_EVENT_API_BASE_URL": " ",
                "INNGEST_BASE_URL": "https://b.example",
            },
            "https://b.example",
            KEY,
            Mode.CLOUD,
        ),
        (
            {"INNGEST_DEV": "http://dev.example:1", "INNGEST_BASE_URL": "http://b.example:2"},
            "http://b.example:2",
            PLACEHOLDER,
            Mode.DEV,
        ),
        (
            {"INNGEST_DEV": "http://dev.example:1", "INNGEST_EVENT_API_BASE_URL": "http://a.example:3"},
            "http://a.example:3",
            PLACEHOLDER,
            Mode.DEV,
        ),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_DEV": "0", "INNGEST_BASE_URL": "http://localhost:8288"},
            "http://localhost:8288",
            KEY,
            Mode.CLOUD,
        ),
    ],
)
def test_resolves_the_base_url_key_and_mode_with_the_sdks_precedence(
    environ: dict[str, str], base_url: str, event_key: str, mode: Mode
) -> None:
    endpoint = inngest_endpoint_from(environ)

    assert (endpoint.base_url, endpoint.event_key, endpoint.mode) == (base_url, event_key, mode)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"INNGEST_EVENT_KEY": ""},
        {"INNGEST_EVENT_KEY": "   "},
        {"INNGEST_DEV": "0"},
        {"INNGEST_DEV": "false"},
        {"INNGEST_BASE_URL": "http://localhost:8288"},
    ],
)
def test_cloud_mode_without_an_event_key_is_a_configuration_error(environ: dict[str, str]) -> None:
    with pytest.raises(InngestConfigError, match="INNGEST_EVENT_KEY is not set") as raised:
        inngest_endpoint_from(environ)

    assert "INNGEST_DEV=1" in str(raised.value)


def test_inngest_env_names_the_branch_environment() -> None:
    assert inngest_endpoint_from({"INNGEST_EVENT_KEY": KEY, "INNGEST_ENV": " feature-x "}).env == "feature-x"
    assert inngest_endpoint_from({"INNGEST_EVENT_KEY": KEY, "INNGEST_ENV": ""}).env is None
    assert inngest_endpoint_from({"INNGEST_EVENT_KEY": KEY}).env is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"INNGEST_DEV": "yes"}, "INNGEST_DEV must be 1, true, 0, false or the dev server's URL"),
        ({"INNGEST_DEV": "localhost"}, "INNGEST_DEV must be 1, true, 0, false or the dev server's URL"),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "ftp://files.example"},
            "INNGEST_BASE_URL must be an http",
        ),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "https://"}, "INNGEST_BASE_URL must be an http"),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "https://x.example:port"},
            "INNGEST_BASE_URL is not a valid URL",
        ),
        ({"INNGEST_EVENT_KEY": KEY, "INNGEST_BASE_URL": "https://x.example/?a=1"}, "must not have a query"),
        (
            {"INNGEST_EVENT_KEY": KEY, "INNGEST_EVENT_API_BASE_URL": "https://x.example/#top"},
            "must not have a query",
        ),
        ({"INNGEST_DEV": "http://user:hunter2@dev.example"}, "INNGEST_DEV must not carry credentials"),
    ],
)
def test_values_that_are_not_what_the_variable_takes_are_configuration_errors(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InngestConfigError, match=message) as raised:
        inngest_endpoint_from(environ)

    assert "hunter2" not in str(raised.value)


def test_the_configuration_error_is_a_value_error() -> None:
    assert issubclass(InngestConfigError, ValueError)


def test_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNGEST_EVENT_KEY", KEY)

    with pytest.raises(InngestConfigError):
        inngest_endpoint_from({})


def test_the_url_holds_the_key_and_the_redacted_url_and_repr_do_not() -> None:
    endpoint = InngestEndpoint(base_url="https://proxy.example/inngest", event_key=KEY, mode=Mode.CLOUD)

    assert endpoint.url == f"https://proxy.example/inngest/e/{KEY}"
    assert endpoint.redacted_url == "https://proxy.example/inngest/e/***"
    assert KEY not in repr(endpoint)


def test_a_key_is_escaped_into_a_single_path_segment() -> None:
    endpoint = InngestEndpoint(base_url=CLOUD, event_key="a/b?c", mode=Mode.CLOUD)

    assert endpoint.url == "https://inn.gs/e/a%2Fb%3Fc"


def test_an_endpoint_needs_a_key() -> None:
    with pytest.raises(ValueError, match="event_key must not be empty"):
        InngestEndpoint(base_url=CLOUD, event_key="", mode=Mode.DEV)
