import re
from pathlib import Path

import pytest

from adapters.nextauth.settings import NextAuthSettings
from application.rate_policy import Rate
from entrypoints.cli.check_config import configuration_table
from entrypoints.composition.environment import ConfigError, every_variable, read_section, read_settings
from entrypoints.composition.settings import EventSettings, HttpSettings
from entrypoints.composition.startup_checks import check_can_publish, check_can_serve

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_serve_nextauth_v4_sessions_through_the_outbox() -> None:
    settings = read_settings({"NEXTAUTH_SECRET": "s"})

    assert settings.http == HttpSettings(
        host="127.0.0.1", port=8000, workers=1, allowed_origins=(), max_body_bytes=1 << 20
    )
    assert settings.session.backend == "nextauth"
    assert (
        settings.nextauth.version,
        settings.nextauth.secrets(),
        settings.nextauth.cookie_name,
        settings.nextauth.allow_bearer,
    ) == (4, ["s"], "", False)
    assert settings.delivery.mode == "outbox"
    assert settings.events == EventSettings(
        default_name="app/user.event", max_bytes=256 * 1024, allowed_names=(), max_batch_events=100
    )


def test_reads_and_parses_each_variable() -> None:
    settings = read_settings(
        {
            "EVENTGATE_PORT": "9001",
            "EVENTGATE_MAX_EVENT_BYTES": "1024",
            "EVENTGATE_LOG_LEVEL": "DEBUG",
            "EVENTGATE_SESSION_BEARER": "on",
            "EVENTGATE_SHUTDOWN_GRACE": "2.5",
        }
    )

    assert settings.http.port == 9001
    assert settings.events.max_bytes == 1024
    assert settings.logging.level == "debug"
    assert settings.nextauth.allow_bearer is True
    assert settings.relay.shutdown_grace == 2.5


def test_v4_reads_nextauth_secret_first_and_the_others_after_it() -> None:
    environ = {"NEXTAUTH_SECRET": "a", "AUTH_SECRET": "b", "AUTH_SECRET_1": "c"}

    assert read_section(environ, NextAuthSettings).secrets() == ["a", "b", "c"]


def test_v5_orders_rotated_secrets_as_auth_js_does() -> None:
    environ = {
        "EVENTGATE_NEXTAUTH_VERSION": "5",
        "AUTH_SECRET": "main",
        "AUTH_SECRET_1": "one",
        "AUTH_SECRET_3": "three",
        "NEXTAUTH_SECRET": "main",
    }

    assert read_section(environ, NextAuthSettings).secrets() == ["three", "one", "main"]


def test_secrets_never_show_in_the_settings_or_their_errors() -> None:
    settings = read_settings({"NEXTAUTH_SECRET": "hunter2", "INNGEST_EVENT_KEY": "key-hunter2"})

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.nextauth.nextauth_secret)


@pytest.mark.parametrize(("version", "variable"), [("4", "NEXTAUTH_SECRET"), ("5", "AUTH_SECRET")])
def test_serving_nextauth_sessions_without_a_secret_names_the_variable_to_set(
    version: str, variable: str
) -> None:
    settings = read_settings({"EVENTGATE_NEXTAUTH_VERSION": version})

    with pytest.raises(ConfigError, match=f"no session secret: set {variable} "):
        check_can_serve(settings)


def test_the_memory_session_serves_without_a_secret() -> None:
    check_can_serve(read_settings({"EVENTGATE_SESSION": "memory"}))


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
        ("EVENTGATE_RABBITMQ_EXCHANGE", "", "must not be empty"),
        ("EVENTGATE_RABBITMQ_EXCHANGE", "événements", "must match"),
        ("EVENTGATE_RABBITMQ_QUEUE", "q*", "must match"),
        ("EVENTGATE_RABBITMQ_QUEUE", "q" * 256, "at most 255 characters"),
        ("EVENTGATE_NATS_STREAM", "EVENT.GATE", "must match"),
        ("EVENTGATE_NEXTAUTH_USERS_TABLE", "t" * 130, "at most 129 characters"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable_and_the_rule(
    variable: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings({variable: value})

    assert str(raised.value).startswith(f"{variable}=")
    assert says in str(raised.value)


def test_the_readme_documents_every_variable_with_its_default() -> None:
    rows = re.finditer(r"^\| `([A-Z0-9_]+)` \| (?:`([^`|]*)`|\(none\)) \|", README.read_text(), re.MULTILINE)
    documented = {row.group(1): row.group(2) or "" for row in rows}

    for variable in every_variable():
        assert documented.get(variable.env) == variable.default_text, variable.env


def test_every_documented_default_reads_back_as_the_default() -> None:
    documented = {variable.env: variable.default_text for variable in every_variable()}

    assert read_settings(documented) == read_settings({})


def test_the_event_bus_settings_are_checked_only_by_commands_that_publish() -> None:
    settings = read_settings({"EVENTGATE_SESSION": "memory"})

    check_can_serve(settings)
    with pytest.raises(ConfigError, match="INNGEST_EVENT_KEY is not set"):
        check_can_publish(settings)


def test_a_relay_lease_shorter_than_a_publish_is_refused() -> None:
    settings = read_settings(
        {"EVENTGATE_SESSION": "memory", "INNGEST_DEV": "1", "EVENTGATE_RELAY_LEASE": "20"}
    )

    with pytest.raises(ConfigError, match="EVENTGATE_RELAY_LEASE"):
        check_can_publish(settings)


def test_origins_are_read_as_browsers_send_them() -> None:
    settings = read_settings({"EVENTGATE_ALLOWED_ORIGINS": "https://App.Example.com, http://localhost:3000/"})

    assert settings.http.allowed_origins == ("https://app.example.com", "http://localhost:3000")


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/path", "ftp://x", "https://"])
def test_an_allowed_origin_must_be_an_origin(origin: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_ALLOWED_ORIGINS"):
        read_settings({"EVENTGATE_ALLOWED_ORIGINS": origin})


@pytest.mark.parametrize(
    ("raw", "rate"), [("off", None), ("120/60", Rate(120, 60.0)), ("5/0.5", Rate(5, 0.5))]
)
def test_rate_limits_are_requests_per_seconds_or_off(raw: str, rate: Rate | None) -> None:
    assert read_settings({"EVENTGATE_RATE_LIMIT": raw}).rate_limit.per_user == rate


@pytest.mark.parametrize("raw", ["120", "0/60", "10/0", "ten/60", "10/forever"])
def test_a_malformed_rate_limit_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_RATE_LIMIT="):
        read_settings({"EVENTGATE_RATE_LIMIT": raw})


def test_a_default_event_name_outside_the_allow_list_is_refused_at_start() -> None:
    settings = read_settings({"EVENTGATE_SESSION": "memory", "EVENTGATE_ALLOWED_EVENT_NAMES": "billing/*"})

    with pytest.raises(ConfigError, match="EVENTGATE_DEFAULT_EVENT_NAME is not allowed"):
        check_can_serve(settings)


@pytest.mark.parametrize(("raw", "linger"), [("0", 0.0), ("0.002", 0.002)])
def test_the_direct_mode_linger_may_be_zero(raw: str, linger: float) -> None:
    assert read_settings({"EVENTGATE_DIRECT_LINGER": raw}).delivery.linger == linger


@pytest.mark.parametrize("raw", ["-0.001", "soon", "inf"])
def test_a_negative_or_endless_linger_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="EVENTGATE_DIRECT_LINGER="):
        read_settings({"EVENTGATE_DIRECT_LINGER": raw})


def test_every_setting_has_a_description_and_a_variable_of_its_own() -> None:
    variables = list(every_variable())

    assert all(variable.meaning for variable in variables)
    assert len({variable.env for variable in variables}) == len(variables)


def test_the_readme_configuration_table_is_the_one_the_settings_tree_makes() -> None:
    assert configuration_table() in README.read_text()
