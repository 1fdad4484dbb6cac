"""Everything the Inngest adapter is configured with, read from environment variables.

The endpoint comes from the SDKs' own variables (see ``endpoint``); how eventgate talks to it comes
from ``EVENTGATE_INNGEST_*`` variables, each optional, times in seconds.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from adapters.inngest.batches import BatchLimits
from adapters.inngest.client import HttpClientSettings
from adapters.inngest.endpoint import InngestEndpoint, resolve_endpoint
from adapters.inngest.errors import InngestConfigError
from adapters.inngest.retry import RetryPolicy

CONNECT_TIMEOUT = "EVENTGATE_INNGEST_CONNECT_TIMEOUT"
READ_TIMEOUT = "EVENTGATE_INNGEST_READ_TIMEOUT"
WRITE_TIMEOUT = "EVENTGATE_INNGEST_WRITE_TIMEOUT"
POOL_TIMEOUT = "EVENTGATE_INNGEST_POOL_TIMEOUT"
MAX_CONNECTIONS = "EVENTGATE_INNGEST_MAX_CONNECTIONS"
MAX_KEEPALIVE_CONNECTIONS = "EVENTGATE_INNGEST_MAX_KEEPALIVE_CONNECTIONS"
KEEPALIVE_EXPIRY = "EVENTGATE_INNGEST_KEEPALIVE_EXPIRY"
MAX_ATTEMPTS = "EVENTGATE_INNGEST_MAX_ATTEMPTS"
PUBLISH_DEADLINE = "EVENTGATE_INNGEST_PUBLISH_DEADLINE"
MAX_REQUEST_BYTES = "EVENTGATE_INNGEST_MAX_REQUEST_BYTES"

_T = TypeVar("_T", int, float)


@dataclass(frozen=True, slots=True)
class InngestSettings:
    endpoint: InngestEndpoint
    http: HttpClientSettings
    retry: RetryPolicy
    limits: BatchLimits


def settings_from_env(environ: Mapping[str, str]) -> InngestSettings:
    """Read the settings from a mapping such as ``os.environ``; raise ``InngestConfigError`` when invalid."""
    endpoint = resolve_endpoint(environ)
    http_defaults, retry_defaults, limit_defaults = HttpClientSettings(), RetryPolicy(), BatchLimits()
    try:
        http = HttpClientSettings(
            connect_timeout=_read(environ, CONNECT_TIMEOUT, float, http_defaults.connect_timeout),
            read_timeout=_read(environ, READ_TIMEOUT, float, http_defaults.read_timeout),
            write_timeout=_read(environ, WRITE_TIMEOUT, float, http_defaults.write_timeout),
            pool_timeout=_read(environ, POOL_TIMEOUT, float, http_defaults.pool_timeout),
            max_connections=_read(environ, MAX_CONNECTIONS, int, http_defaults.max_connections),
            max_keepalive_connections=_read(
                environ, MAX_KEEPALIVE_CONNECTIONS, int, http_defaults.max_keepalive_connections
            ),
            keepalive_expiry=_read(environ, KEEPALIVE_EXPIRY, float, http_defaults.keepalive_expiry),
        )
        retry = RetryPolicy(
            max_attempts=_read(environ, MAX_ATTEMPTS, int, retry_defaults.max_attempts),
            deadline=_read(environ, PUBLISH_DEADLINE, float, retry_defaults.deadline),
        )
        limits = BatchLimits(max_bytes=_read(environ, MAX_REQUEST_BYTES, int, limit_defaults.max_bytes))
    except InngestConfigError:
        raise
    except ValueError as error:
        raise InngestConfigError(f"invalid Inngest settings: {error}") from None
    return InngestSettings(endpoint=endpoint, http=http, retry=retry, limits=limits)


def _read(environ: Mapping[str, str], name: str, kind: type[_T], default: _T) -> _T:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        expected = "a positive integer" if kind is int else "a positive number"
        raise InngestConfigError(f"{name} must be {expected}, got {text!r}")
    return value
