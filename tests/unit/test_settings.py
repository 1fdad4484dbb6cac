import re
from pathlib import Path

import pytest

from entrypoints.settings import VARIABLES, ConfigError, load_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_make_a_working_development_configuration() -> None:
    config = load_config({})

    assert config["http"] == {"host": "127.0.0.1", "port": 8000}
    assert config["session"]["backend"] == "memory"
    assert config["event_bus"]["backend"] == "memory"
    assert config["events"] == {"default_name": "app/user.event", "max_bytes": 256 * 1024}


def test_reads_and_parses_each_variable() -> None:
    config = load_config(
        {"EVENTGATE_PORT": "9001", "EVENTGATE_MAX_EVENT_BYTES": "1024", "EVENTGATE_LOG_LEVEL": "DEBUG"}
    )

    assert config["http"]["port"] == 9001
    assert config["events"]["max_bytes"] == 1024
    assert config["logging"]["level"] == "debug"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("EVENTGATE_PORT", "eighty", "must be a whole number"),
        ("EVENTGATE_PORT", "70000", "between 1 and 65535"),
        ("EVENTGATE_MAX_EVENT_BYTES", "0", "positive"),
        ("EVENTGATE_SESSION", "ldap", "must be one of memory"),
        ("EVENTGATE_DEFAULT_EVENT_NAME", "inngest/x", "must not start with 'inngest/'"),
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
    table_rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([A-Z0-9_]+)` \| `?([^|`]*)`? \|", README.read_text(), re.MULTILINE)
    }

    for variable in VARIABLES:
        assert table_rows.get(variable.env) == variable.default, variable.env
