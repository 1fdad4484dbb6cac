"""Every configuration variable eventgate reads, in one table, parsed and checked at start.

The same table feeds the dependency-injector ``Configuration``, error messages that name the
variable to fix, and the README's configuration table (a test keeps the two in step).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidEvent
from domain.event import DEFAULT_MAX_EVENT_BYTES, check_event_name


class ConfigError(ValueError):
    """The configuration cannot work; the message names the variable and what to do."""


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _whole_number(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("must be a whole number") from None


def _positive_int(raw: str) -> int:
    value = _whole_number(raw)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _positive_seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 < value < float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be on or off")


def _port(raw: str) -> int:
    value = _whole_number(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port between 1 and 65535")
    return value


def _event_name(raw: str) -> str:
    try:
        check_event_name(raw)
    except InvalidEvent as error:
        raise ValueError(error.message) from error
    return raw


def _text(raw: str) -> str:
    return raw


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: where its value goes in the configuration, and how to read it."""

    env: str
    path: str
    default: str
    parse: Callable[[str], Any]
    meaning: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("EVENTGATE_HOST", "http.host", "127.0.0.1", _text, "Address `eventgate serve` listens on."),
    Variable("EVENTGATE_PORT", "http.port", "8000", _port, "Port `eventgate serve` listens on."),
    Variable(
        "EVENTGATE_SESSION",
        "session.backend",
        "memory",
        _choice("memory"),
        "Where sessions come from: `memory` (a fixed development user, cookie `eventgate.dev-session=dev`).",
    ),
    Variable(
        "EVENTGATE_EVENT_BUS",
        "event_bus.backend",
        "memory",
        _choice("memory"),
        "Where events go: `memory` (kept in the process, for development and tests).",
    ),
    Variable(
        "EVENTGATE_DELIVERY",
        "delivery.mode",
        "outbox",
        _choice("outbox", "direct"),
        "`outbox`: a request succeeds once its event is stored durably, and a relay delivers it; "
        "`direct`: a request succeeds only once the bus has the event.",
    ),
    Variable(
        "EVENTGATE_OUTBOX_PATH",
        "outbox.path",
        "var/outbox.sqlite3",
        _text,
        "The outbox's SQLite file (its folder is created). Processes of one machine may share it.",
    ),
    Variable(
        "EVENTGATE_OUTBOX_SYNC",
        "outbox.sync",
        "normal",
        _choice("normal", "full"),
        "`normal`: accepted events survive the process being killed; "
        "`full`: they also survive power loss, at the cost of an fsync per group commit.",
    ),
    Variable(
        "EVENTGATE_OUTBOX_MAX_EVENTS",
        "outbox.max_events",
        "1000000",
        _positive_int,
        "Undelivered events the outbox holds before requests get 503 with `Retry-After`.",
    ),
    Variable(
        "EVENTGATE_OUTBOX_MAX_BYTES",
        "outbox.max_bytes",
        str(1 << 30),
        _positive_int,
        "Bytes of undelivered events the outbox holds before requests get 503 with `Retry-After`.",
    ),
    Variable(
        "EVENTGATE_OUTBOX_RETENTION",
        "outbox.retention_seconds",
        "3600",
        _positive_seconds,
        "Seconds a delivered event stays in the outbox (for `eventgate outbox status`) before it is purged.",
    ),
    Variable(
        "EVENTGATE_RELAY",
        "relay.in_service",
        "on",
        _switch,
        "Run the relay inside `eventgate serve`; `off` when a standalone `eventgate relay` delivers instead.",
    ),
    Variable(
        "EVENTGATE_RELAY_BATCH_SIZE",
        "relay.batch_size",
        "1000",
        _positive_int,
        "Most events the relay hands to the bus in one publish.",
    ),
    Variable(
        "EVENTGATE_SHUTDOWN_GRACE",
        "relay.shutdown_grace",
        "10",
        _positive_seconds,
        "Seconds the relay keeps delivering after SIGTERM; what is left waits in the outbox for the next "
        "start.",
    ),
    Variable(
        "EVENTGATE_DEFAULT_EVENT_NAME",
        "events.default_name",
        "app/user.event",
        _event_name,
        "Event name used when a request names none.",
    ),
    Variable(
        "EVENTGATE_MAX_EVENT_BYTES",
        "events.max_bytes",
        str(DEFAULT_MAX_EVENT_BYTES),
        _positive_int,
        "Largest event accepted, in bytes of compact JSON (Inngest's own limit is 256 KiB).",
    ),
    Variable(
        "EVENTGATE_LOG_LEVEL",
        "logging.level",
        "info",
        _choice("debug", "info", "warning", "error"),
        "Least severe log level written.",
    ),
)


def load_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read every variable from ``environ`` into the nested dict the container's Configuration takes.

    Raises ``ConfigError`` naming the first variable that is wrong.
    """
    config: dict[str, Any] = {}
    for variable in VARIABLES:
        raw = environ.get(variable.env, variable.default)
        try:
            value = variable.parse(raw)
        except ValueError as error:
            shown = "(hidden)" if variable.secret else repr(raw)
            raise ConfigError(f"{variable.env}={shown} is not valid: {error}") from None
        section, _, key = variable.path.rpartition(".")
        config.setdefault(section, {})[key] = value
    return config
