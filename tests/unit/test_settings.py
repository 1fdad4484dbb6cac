import re
from pathlib import Path

import pytest

from adapters.inngest import settings_from_env
from entrypoints.container import build_container
from entrypoints.settings import VARIABLES, ConfigError, check_can_serve, load_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_serve_nextauth_v4_sessions_through_the_outbox() -> None:
    config = load_config({"NEXTAUTH_SECRET": "s"})

    assert config["http"] == {
        "host": "127.0.0.1",
        "port": 8000,
        "workers": 1,
        "allowed_origins": (),
        "max_body_bytes": 1 << 20,
    }
    assert config["session"] == {
        "backend": "nextauth",
        "version": 4,
        "secrets": ["s"],
        "cookie_name": None,
        "allow_bearer": False,
    }
    assert config["delivery"]["mode"] == "outbox"
    assert config["events"] == {
        "default_name": "app/user.event",
        "max_bytes": 256 * 1024,
        "max_batch_events": 100,
        "allowed_names": (),
    }


def test_reads_and_parses_each_variable() -> None:
    config = load_config(
        {
            "EVENTGATE_PORT": "9001",
            "EVENTGATE_MAX_EVENT_BYTES": "1024",
            "EVENTGATE_LOG_LEVEL": "DEBUG",
            "EVENTGATE_SESSION_BEARER": "on",
            "EVENTGATE_SHUTDOWN_GRACE": "2.5",
        }
    )

    assert config["http"]["port"] == 9001
    assert config["events"]["max_bytes"] == 1024
    assert config["logging"]["level"] == "debug"
    assert config["session"]["allow_bearer"] is True
    assert config["relay"]["shutdown_grace"] == 2.5


def test_v4_reads_nextauth_secret_first_and_the_others_after_it() -> None:
    environ = {"NEXTAUTH_SECRET": "a", "AUTH_SECRET": "b", "AUTH_SECRET_1": "c"}

    assert load_config(environ)["session"]["secrets"] == ["a", "b", "c"]


def test_v5_orders_rotated_secrets_as_auth_js_does() -> None:
    environ = {
        "EVENTGATE_NEXTAUTH_VERSION": "5",
        "AUTH_SECRET": "main",
        "AUTH_SECRET_1": "one",
        "AUTH_SECRET_3": "three",
        "NEXTAUTH_SECRET": "main",
    }

    assert load_config(environ)["session"]["secrets"] == ["three", "one", "main"]


@pytest.mark.parametrize(("version", "variable"), [("4", "NEXTAUTH_SECRET"), ("5", "AUTH_SECRET")])
def test_serving_nextauth_sessions_without_a_secret_names_the_variable_to_set(
    version: str, variable: str
) -> None:
    config = load_config({"EVENTGATE_NEXTAUTH_VERSION": version})

    with pytest.raises(ConfigError, match=f"no session secret: set {variable} "):
        check_can_serve(config)


def test_the_memory_session_serves_without_a_secret() -> None:
    check_can_serve(load_config({"EVENTGATE_SESSION": "memory"}))


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("EVENTGATE_PORT", "eighty", "must be a whole number"),
        ("EVENTGATE_PORT", "70000", "between 1 and 65535"),
        ("EVENTGATE_MAX_EVENT_BYTES", "0", "positive"),
        ("EVENTGATE_SESSION", "ldap", "must be one of nextauth, memory"),
        ("EVENTGATE_NEXTAUTH_VERSION", "6", "must be one of 4, 5"),
        ("EVENTGATE_DEFAULT_EVENT_NAME", "inngest/x", "must not start with 'inngest/'"),
        ("EVENTGATE_SHUTDOWN_GRACE", "soon", "number of seconds"),
        ("EVENTGATE_RELAY", "maybe", "on or off"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable_and_the_rule(
    variable: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({variable: value})

    assert str(raised.value).startswith(f"{variable}=")
    assert says in str(raised.value)


def test_the_readme_documents_every_variable_with_its_default() -> None:
    rows = re.finditer(r"^\| `([A-Z0-9_]+)` \| (?:`([^`|]*)`|\(none\)) \|", README.read_text(), re.MULTILINE)
    documented = {row.group(1): row.group(2) or "" for row in rows}

    for variable in VARIABLES:
        assert documented.get(variable.env) == variable.default, variable.env


def test_the_documented_inngest_defaults_are_the_adapters_own() -> None:
    documented = {v.env: v.default for v in VARIABLES if v.path.startswith("inngest.")}

    assert settings_from_env(documented | {"INNGEST_DEV": "1"}) == settings_from_env({"INNGEST_DEV": "1"})


def test_the_event_bus_settings_are_checked_only_by_commands_that_publish() -> None:
    with pytest.raises(ConfigError, match="INNGEST_EVENT_KEY is not set"):
        build_container({"EVENTGATE_SESSION": "memory"})

    build_container({"EVENTGATE_SESSION": "memory"}, publishes=False)


def test_a_relay_lease_shorter_than_a_publish_is_refused() -> None:
    environ = {"EVENTGATE_SESSION": "memory", "INNGEST_DEV": "1", "EVENTGATE_RELAY_LEASE": "20"}

    with pytest.raises(ConfigError, match="EVENTGATE_RELAY_LEASE"):
        build_container(environ)


def test_origins_are_read_as_browsers_send_them() -> None:
    config = load_config({"EVENTGATE_ALLOWED_ORIGINS": "https://App.Example.com, http://localhost:3000/"})

    assert config["http"]["allowed_origins"] == ("https://app.example.com", "http://localhost:3000")


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/path", "ftp://x", "https://"])
def test_an_allowed_origin_must_be_an_origin(origin: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_ALLOWED_ORIGINS"):
        load_config({"EVENTGATE_ALLOWED_ORIGINS": origin})


@pytest.mark.parametrize(("raw", "rate"), [("off", None), ("120/60", (120, 60.0)), ("5/0.5", (5, 0.5))])
def test_rate_limits_are_requests_per_seconds_or_off(raw: str, rate: tuple[int, float] | None) -> None:
    assert load_config({"EVENTGATE_RATE_LIMIT": raw})["rate_limit"]["per_user"] == rate


@pytest.mark.parametrize("raw", ["120", "0/60", "10/0", "ten/60", "10/forever"])
def test_a_malformed_rate_limit_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_RATE_LIMIT="):
        load_config({"EVENTGATE_RATE_LIMIT": raw})


def test_a_default_event_name_outside_the_allow_list_is_refused_at_start() -> None:
    config = load_config({"EVENTGATE_SESSION": "memory", "EVENTGATE_ALLOWED_EVENT_NAMES": "billing/*"})

    with pytest.raises(ConfigError, match="EVENTGATE_DEFAULT_EVENT_NAME is not allowed"):
        check_can_serve(config)


@pytest.mark.parametrize(("raw", "linger"), [("0", 0.0), ("0.002", 0.002)])
def test_the_direct_mode_linger_may_be_zero(raw: str, linger: float) -> None:
    assert load_config({"EVENTGATE_DIRECT_LINGER": raw})["delivery"]["linger"] == linger


@pytest.mark.parametrize("raw", ["-0.001", "soon", "inf"])
def test_a_negative_or_endless_linger_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_DIRECT_LINGER="):
        load_config({"EVENTGATE_DIRECT_LINGER": raw})
