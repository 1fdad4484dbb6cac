"""Where events go: the Inngest event API resolved from the SDKs' environment variables.

The precedence mirrors the official SDKs (inngest-py ``client_lib/utils.py`` and inngest-js
``components/Inngest.ts``) so that one environment configures eventgate and any Inngest app alike:

* base URL: ``INNGEST_EVENT_API_BASE_URL``, then ``INNGEST_BASE_URL``, then ``INNGEST_DEV`` when it
  holds a URL, then the dev server in dev mode or Inngest Cloud otherwise;
* mode: dev when ``INNGEST_DEV`` is ``1``, ``true`` or a URL; cloud when it is unset, empty, ``0`` or
  ``false``;
* event key: ``INNGEST_EVENT_KEY``; the dev server accepts any key, so a missing one is sent as
  ``NO_EVENT_KEY_SET`` there, while Inngest Cloud cannot accept events without one;
* ``INNGEST_ENV`` names the branch environment, sent as the ``x-inngest-env`` header.

Empty values count as unset, as in both SDKs.
"""

import enum
import urllib.parse
from dataclasses import dataclass, field

from adapters.inngest.errors import InngestConfigError

EVENT_KEY = "INNGEST_EVENT_KEY"
EVENT_API_BASE_URL = "INNGEST_EVENT_API_BASE_URL"
BASE_URL = "INNGEST_BASE_URL"
DEV = "INNGEST_DEV"
ENV = "INNGEST_ENV"

CLOUD_EVENT_API_URL = "https://inn.gs"
DEV_SERVER_URL = "http://127.0.0.1:8288"
DEV_SERVER_EVENT_KEY = "NO_EVENT_KEY_SET"
REDACTED = "***"

_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


class Mode(enum.Enum):
    CLOUD = "cloud"
    DEV = "dev"


@dataclass(frozen=True, slots=True)
class InngestEndpoint:
    """The event API to send to. ``base_url`` is safe to log; ``url`` is a secret, for it holds the key."""

    base_url: str
    event_key: str = field(repr=False)
    mode: Mode
    env: str | None = None

    def __post_init__(self) -> None:
        if not self.event_key:
            raise ValueError("event_key must not be empty")

    @property
    def url(self) -> str:
        return f"{self.base_url}/e/{urllib.parse.quote(self.event_key, safe='')}"

    @property
    def redacted_url(self) -> str:
        return f"{self.base_url}/e/{REDACTED}"


def resolve_endpoint(
    *, event_key: str, event_api_base_url: str, base_url: str, dev: str, env: str
) -> InngestEndpoint:
    """Resolve the endpoint from the values of the SDKs' variables (``""`` for one not set)."""
    dev_flag, dev_url = _parse_dev(_value(dev))
    mode = Mode.DEV if dev_flag else Mode.CLOUD
    resolved_base_url = (
        _base_url(EVENT_API_BASE_URL, event_api_base_url, mode)
        or _base_url(BASE_URL, base_url, mode)
        or dev_url
        or (DEV_SERVER_URL if mode is Mode.DEV else CLOUD_EVENT_API_URL)
    )
    key = _value(event_key)
    if key is None:
        if mode is Mode.CLOUD:
            raise InngestConfigError(
                f"{EVENT_KEY} is not set: Inngest Cloud accepts events only with an event key. "
                f"Set {EVENT_KEY}, or set {DEV}=1 to send events to a local Inngest dev server."
            )
        key = DEV_SERVER_EVENT_KEY
    return InngestEndpoint(base_url=resolved_base_url, event_key=key, mode=mode, env=_value(env))


def _value(raw: str) -> str | None:
    return raw.strip() or None


def _parse_dev(value: str | None) -> tuple[bool, str | None]:
    """Whether dev mode is on, and the dev server URL when ``INNGEST_DEV`` holds one.

    The SDKs disagree on values that are neither a boolean nor URL-like (inngest-py treats ``yes``
    as dev mode with the default dev server, inngest-js as the host ``http://yes``), so such values
    are refused rather than guessed at.
    """
    if value is None or value.lower() in _FALSE:
        return False, None
    if value.lower() in _TRUE:
        return True, None
    if "://" not in value and "." not in value and ":" not in value:
        raise InngestConfigError(
            f"{DEV} must be 1, true, 0, false or the dev server's URL (such as http://localhost:8288), "
            f"got {value!r}"
        )
    return True, _parse_url(DEV, value, default_scheme="http")


def _base_url(name: str, raw: str, mode: Mode) -> str | None:
    value = _value(raw)
    if value is None:
        return None
    return _parse_url(name, value, default_scheme="http" if mode is Mode.DEV else "https")


def _parse_url(name: str, value: str, default_scheme: str) -> str:
    """Normalise a base URL: add the mode's scheme when missing, keep any path, drop a trailing slash.

    The scheme default follows inngest-py (``https`` for Inngest Cloud, ``http`` for a dev server).
    """
    text = value if "://" in value else f"{default_scheme}://{value}"
    try:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # raises ValueError when the port is not a number in range
    except ValueError as error:
        raise InngestConfigError(f"{name} is not a valid URL: {error}") from None
    if parts.username is not None or parts.password is not None:
        raise InngestConfigError(f"{name} must not carry credentials; the event key authenticates events")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InngestConfigError(f"{name} must be an http or https URL with a host, got {value!r}")
    if parts.query or parts.fragment:
        raise InngestConfigError(f"{name} must not have a query or a fragment, got {value!r}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
