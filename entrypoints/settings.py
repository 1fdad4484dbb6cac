"""Every configuration variable eventgate reads, in one table, parsed and checked at start.

The same table feeds the dependency-injector ``Configuration``, error messages that name the
variable to fix, and the README's configuration table (a test keeps the two in step).
"""

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from application.record_user_event import DEFAULT_MAX_BATCH_EVENTS
from domain.errors import EventNotAllowed, InvalidEvent
from domain.event import DEFAULT_MAX_EVENT_BYTES, EventRules, check_event_name


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


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be zero or a positive number of seconds")
    return value


def _positive_seconds(raw: str) -> float:
    value = _seconds(raw)
    if value == 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be on or off")


def _comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _origins(raw: str) -> tuple[str, ...]:
    """Origins as browsers send them: ``https://app.example.com`` or ``http://localhost:3000``."""
    origins = []
    for item in _comma_list(raw):
        parts = urllib.parse.urlsplit(item)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
            raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
        if parts.query or parts.fragment or parts.username:
            raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(origins)


def _patterns(raw: str) -> tuple[str, ...]:
    return tuple(_comma_list(raw))


def _rate(raw: str) -> tuple[int, float] | None:
    """``off``, or ``N/S``: at most N requests per S seconds (after a burst of N)."""
    if raw.strip().lower() == "off":
        return None
    count, _, seconds = raw.partition("/")
    try:
        limit, period = int(count), float(seconds)
    except ValueError:
        raise ValueError("must be off or REQUESTS/SECONDS, such as 120/60") from None
    if limit <= 0 or not 0 < period < float("inf"):
        raise ValueError("must be off or REQUESTS/SECONDS with both positive, such as 120/60")
    return limit, period


def _version(raw: str) -> int:
    return int(_choice("4", "5")(raw))


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
        "EVENTGATE_WORKERS",
        "http.workers",
        "1",
        _positive_int,
        "Server processes sharing the port and the outbox (`eventgate serve --workers N`).",
    ),
    Variable(
        "EVENTGATE_SESSION",
        "session.backend",
        "nextauth",
        _choice("nextauth", "memory"),
        "Where sessions come from: `nextauth` (the Next.js app's NextAuth/Auth.js session cookie) or "
        "`memory` (one development user, cookie `eventgate.dev-session=dev`).",
    ),
    Variable(
        "EVENTGATE_NEXTAUTH_VERSION",
        "session.version",
        "4",
        _version,
        "`4`: next-auth v4 (`getServerSession`); `5`: Auth.js v5 (`@auth/core`, `next-auth@5`).",
    ),
    Variable(
        "NEXTAUTH_SECRET",
        "session.nextauth_secret",
        "",
        _text,
        "The app's session secret (next-auth v4's variable; v5 reads it when no `AUTH_SECRET` is set).",
        secret=True,
    ),
    Variable(
        "AUTH_SECRET",
        "session.auth_secret",
        "",
        _text,
        "The app's session secret (Auth.js v5's variable; v4 reads it when no `NEXTAUTH_SECRET` is set).",
        secret=True,
    ),
    *(
        Variable(
            f"AUTH_SECRET_{n}",
            f"session.auth_secret_{n}",
            "",
            _text,
            "Rotated secrets, tried in Auth.js's order: `AUTH_SECRET_3`, `_2`, `_1`, then `AUTH_SECRET`.",
            secret=True,
        )
        for n in (1, 2, 3)
    ),
    Variable(
        "EVENTGATE_SESSION_COOKIE",
        "session.cookie_name",
        "",
        _text,
        "The session cookie's name, when the app renamed it; by default both the plain and the "
        "`__Secure-` name of the version are read.",
    ),
    Variable(
        "EVENTGATE_SESSION_BEARER",
        "session.allow_bearer",
        "off",
        _switch,
        "Also accept the session token as `Authorization: Bearer <token>` when no cookie is sent, as "
        "NextAuth's `getToken` does.",
    ),
    Variable(
        "EVENTGATE_EVENT_BUS",
        "event_bus.backend",
        "inngest",
        _choice("inngest", "memory"),
        "Where events go: `inngest` (its HTTP event API) or `memory` (kept in the process, for tests).",
    ),
    Variable(
        "INNGEST_EVENT_KEY",
        "inngest.INNGEST_EVENT_KEY",
        "",
        _text,
        "Inngest event key; required for Inngest Cloud, `NO_EVENT_KEY_SET` is sent to a dev server.",
        secret=True,
    ),
    Variable(
        "INNGEST_EVENT_API_BASE_URL",
        "inngest.INNGEST_EVENT_API_BASE_URL",
        "",
        _text,
        "Event API origin (a path is kept); wins over `INNGEST_BASE_URL` and `INNGEST_DEV`, as in the SDKs.",
    ),
    Variable(
        "INNGEST_BASE_URL",
        "inngest.INNGEST_BASE_URL",
        "",
        _text,
        "Inngest origin, when `INNGEST_EVENT_API_BASE_URL` is not set.",
    ),
    Variable(
        "INNGEST_DEV",
        "inngest.INNGEST_DEV",
        "",
        _text,
        "`1`: the dev server at `http://127.0.0.1:8288`; a URL: the dev server there; unset or `0`: Inngest "
        "Cloud (`https://inn.gs`).",
    ),
    Variable(
        "INNGEST_ENV",
        "inngest.INNGEST_ENV",
        "",
        _text,
        "Inngest branch environment, sent as `x-inngest-env`.",
    ),
    *(
        Variable(f"EVENTGATE_INNGEST_{name}", f"inngest.EVENTGATE_INNGEST_{name}", default, _text, meaning)
        for name, default, meaning in (
            ("CONNECT_TIMEOUT", "3", "Seconds to open a connection to Inngest."),
            ("READ_TIMEOUT", "10", "Seconds to wait for each part of Inngest's answer."),
            ("WRITE_TIMEOUT", "10", "Seconds to send each part of a request."),
            ("POOL_TIMEOUT", "5", "Seconds to wait for a free connection when all are busy."),
            ("MAX_CONNECTIONS", "100", "Connections to Inngest at most."),
            ("MAX_KEEPALIVE_CONNECTIONS", "20", "Idle connections kept open for reuse."),
            ("KEEPALIVE_EXPIRY", "15", "Seconds an idle connection is kept."),
            ("MAX_ATTEMPTS", "5", "Attempts per request (408, 429, 5xx and network errors are retried)."),
            ("PUBLISH_DEADLINE", "20", "Seconds one publish may take in all, retries included."),
            (
                "MAX_REQUEST_BYTES",
                "524288",
                "Largest request body; bigger publishes are split (at most 5000 events).",
            ),
        )
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
        "EVENTGATE_DIRECT_LINGER",
        "delivery.linger",
        "0",
        _seconds,
        "Direct mode: seconds to wait for more concurrent requests before one publish carries all their "
        "events; `0` gathers what arrives in the same turn of the event loop.",
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
        "EVENTGATE_RELAY_GATHER",
        "relay.gather_seconds",
        "0.02",
        _seconds,
        "Seconds the relay gathers events after a batch smaller than `EVENTGATE_RELAY_BATCH_SIZE`, so "
        "that under steady load one publish carries many events; `0` sends what is there at once.",
    ),
    Variable(
        "EVENTGATE_RELAY_LEASE",
        "relay.lease_seconds",
        "60",
        _positive_seconds,
        "Seconds a relay holds the events it is delivering; after a crash they are delivered again "
        "once it runs out. Must exceed `EVENTGATE_INNGEST_PUBLISH_DEADLINE`.",
    ),
    Variable(
        "EVENTGATE_RELAY_RETRY_CAP",
        "relay.retry_cap",
        "60",
        _positive_seconds,
        "Longest wait, in seconds, between two deliveries of an event the bus could not take.",
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
        "EVENTGATE_ALLOWED_ORIGINS",
        "http.allowed_origins",
        "",
        _origins,
        "Comma-separated origins of the Next.js app (`https://app.example.com`) allowed to call from a "
        "browser, with CORS and credentials; the service's own origin always is.",
    ),
    Variable(
        "EVENTGATE_MAX_BODY_BYTES",
        "http.max_body_bytes",
        "1048576",
        _positive_int,
        "Largest request body read; a larger one is refused with 413.",
    ),
    Variable(
        "EVENTGATE_ALLOWED_EVENT_NAMES",
        "events.allowed_names",
        "",
        _patterns,
        "Comma-separated glob patterns (`app/*`); when set, other event names are refused with 403.",
    ),
    Variable(
        "EVENTGATE_RATE_LIMIT",
        "rate_limit.per_user",
        "120/60",
        _rate,
        "Requests per seconds one signed-in user may make (`REQUESTS/SECONDS`), or `off`.",
    ),
    Variable(
        "EVENTGATE_RATE_LIMIT_ANONYMOUS",
        "rate_limit.per_address",
        "60/60",
        _rate,
        "Requests per seconds one client address without a valid session may make, or `off`.",
    ),
    Variable(
        "EVENTGATE_RATE_LIMIT_REDIS_URL",
        "rate_limit.redis_url",
        "",
        _text,
        "Redis URL (`redis://127.0.0.1:6379/0`) to share the limits across processes and machines; "
        "empty keeps them in each process.",
        secret=True,
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
        "EVENTGATE_MAX_BATCH_EVENTS",
        "events.max_batch_events",
        str(DEFAULT_MAX_BATCH_EVENTS),
        _positive_int,
        "Most events one `POST /api/batch` may carry; a larger batch is refused whole with 400.",
    ),
    Variable(
        "EVENTGATE_LOG_LEVEL",
        "logging.level",
        "info",
        _choice("debug", "info", "warning", "error"),
        "Least severe log level written.",
    ),
    Variable(
        "EVENTGATE_LOG_FORMAT",
        "logging.format",
        "auto",
        _choice("auto", "json", "console"),
        "`json`: one JSON object per line; `console`: readable lines; `auto`: console on a terminal, "
        "else JSON.",
    ),
)


def read_variables(environ: Mapping[str, str]) -> dict[str, Any]:
    """Every variable from ``environ``, parsed, as a nested dict.

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


def load_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """The configuration the container takes; the session secrets gathered into one list.

    Raises ``ConfigError`` with a message that names what to set.
    """
    config = read_variables(environ)
    session = config["session"]
    session["secrets"] = session_secrets(session)
    for name in _SECRET_KEYS:
        del session[name]
    session["cookie_name"] = session["cookie_name"] or None
    rate_limit = config["rate_limit"]
    if rate_limit["per_user"] is None and rate_limit["per_address"] is None:
        rate_limit["backend"] = "off"
    else:
        rate_limit["backend"] = "redis" if rate_limit["redis_url"] else "memory"
    return config


def check_can_serve(config: Mapping[str, Any]) -> None:
    """What serving requests needs beyond the rest: a secret to read sessions with, an allowed default."""
    events = config["events"]
    try:
        EventRules(allowed_names=events["allowed_names"]).check_name_allowed(events["default_name"])
    except EventNotAllowed as error:
        raise ConfigError(f"EVENTGATE_DEFAULT_EVENT_NAME is not allowed: {error}") from None
    session = config["session"]
    if session["backend"] == "nextauth" and not session["secrets"]:
        variable = "NEXTAUTH_SECRET" if session["version"] == 4 else "AUTH_SECRET"
        raise ConfigError(
            f"no session secret: set {variable} to the secret of the Next.js app whose sessions "
            "eventgate serves (or EVENTGATE_SESSION=memory for a development user)"
        )


_SECRET_KEYS = ("nextauth_secret", "auth_secret", "auth_secret_1", "auth_secret_2", "auth_secret_3")


def session_secrets(session: Mapping[str, Any]) -> list[str]:
    """The secrets in the order the app's library tries them; the first one signs new sessions.

    next-auth v4 reads ``NEXTAUTH_SECRET``; Auth.js v5 builds ``[AUTH_SECRET_3, AUTH_SECRET_2,
    AUTH_SECRET_1, AUTH_SECRET]`` from whichever are set. Each also falls back to the other's main
    variable, so one secret set under either name works.
    """
    rotated = [session[f"auth_secret_{n}"] for n in (3, 2, 1)]
    if session["version"] == 4:
        ordered = [session["nextauth_secret"], session["auth_secret"], *rotated]
    else:
        ordered = [*rotated, session["auth_secret"], session["nextauth_secret"]]
    return list(dict.fromkeys(secret for secret in ordered if secret))
