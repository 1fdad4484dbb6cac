"""Everything the Inngest adapter is configured with: the SDKs' own variables, and how we talk to it.

The endpoint comes from the variables the official SDKs read (see ``endpoint``); how eventgate
talks to it comes from ``EVENTGATE_INNGEST_*``, times in seconds. The defaults are the adapter's
own value objects' (``HttpClientSettings``, ``RetryPolicy``, ``BatchLimits``): stated there once,
named here for the environment.
"""

from typing import Annotated

import msgspec
from msgspec import Meta

from adapters.inngest.batches import BatchLimits
from adapters.inngest.client import HttpClientSettings
from adapters.inngest.endpoint import InngestEndpoint, resolve_endpoint
from adapters.inngest.retry import RetryPolicy
from adapters.secret import Secret
from adapters.setting_types import Count, PositiveSeconds

_HTTP, _RETRY, _LIMITS = HttpClientSettings(), RetryPolicy(), BatchLimits()


class InngestSettings(msgspec.Struct, frozen=True, kw_only=True):
    event_key: Annotated[
        Secret,
        Meta(
            description="Inngest event key; required for Inngest Cloud, `NO_EVENT_KEY_SET` is sent to a "
            "dev server."
        ),
    ] = msgspec.field(default=Secret(""), name="INNGEST_EVENT_KEY")
    event_api_base_url: Annotated[
        str,
        Meta(
            description="Event API origin (a path is kept); wins over `INNGEST_BASE_URL` and `INNGEST_DEV`, "
            "as in the SDKs."
        ),
    ] = msgspec.field(default="", name="INNGEST_EVENT_API_BASE_URL")
    base_url: Annotated[
        str, Meta(description="Inngest origin, when `INNGEST_EVENT_API_BASE_URL` is not set.")
    ] = msgspec.field(default="", name="INNGEST_BASE_URL")
    dev: Annotated[
        str,
        Meta(
            description="`1`: the dev server at `http://127.0.0.1:8288`; a URL: the dev server there; unset "
            "or `0`: Inngest Cloud (`https://inn.gs`)."
        ),
    ] = msgspec.field(default="", name="INNGEST_DEV")
    env: Annotated[str, Meta(description="Inngest branch environment, sent as `x-inngest-env`.")] = (
        msgspec.field(default="", name="INNGEST_ENV")
    )
    connect_timeout: Annotated[
        PositiveSeconds, Meta(description="Seconds to open a connection to Inngest.")
    ] = msgspec.field(default=_HTTP.connect_timeout, name="EVENTGATE_INNGEST_CONNECT_TIMEOUT")
    read_timeout: Annotated[
        PositiveSeconds, Meta(description="Seconds to wait for each part of Inngest's answer.")
    ] = msgspec.field(default=_HTTP.read_timeout, name="EVENTGATE_INNGEST_READ_TIMEOUT")
    write_timeout: Annotated[PositiveSeconds, Meta(description="Seconds to send each part of a request.")] = (
        msgspec.field(default=_HTTP.write_timeout, name="EVENTGATE_INNGEST_WRITE_TIMEOUT")
    )
    pool_timeout: Annotated[
        PositiveSeconds, Meta(description="Seconds to wait for a free connection when all are busy.")
    ] = msgspec.field(default=_HTTP.pool_timeout, name="EVENTGATE_INNGEST_POOL_TIMEOUT")
    max_connections: Annotated[Count, Meta(description="Connections to Inngest at most.")] = msgspec.field(
        default=_HTTP.max_connections, name="EVENTGATE_INNGEST_MAX_CONNECTIONS"
    )
    max_keepalive_connections: Annotated[Count, Meta(description="Idle connections kept open for reuse.")] = (
        msgspec.field(
            default=_HTTP.max_keepalive_connections, name="EVENTGATE_INNGEST_MAX_KEEPALIVE_CONNECTIONS"
        )
    )
    keepalive_expiry: Annotated[PositiveSeconds, Meta(description="Seconds an idle connection is kept.")] = (
        msgspec.field(default=_HTTP.keepalive_expiry, name="EVENTGATE_INNGEST_KEEPALIVE_EXPIRY")
    )
    max_attempts: Annotated[
        Count, Meta(description="Attempts per request (408, 429, 5xx and network errors are retried).")
    ] = msgspec.field(default=_RETRY.max_attempts, name="EVENTGATE_INNGEST_MAX_ATTEMPTS")
    publish_deadline: Annotated[
        PositiveSeconds, Meta(description="Seconds one publish may take in all, retries included.")
    ] = msgspec.field(default=_RETRY.deadline, name="EVENTGATE_INNGEST_PUBLISH_DEADLINE")
    max_request_bytes: Annotated[
        Count, Meta(description="Largest request body; bigger publishes are split (at most 5000 events).")
    ] = msgspec.field(default=_LIMITS.max_bytes, name="EVENTGATE_INNGEST_MAX_REQUEST_BYTES")

    def endpoint(self) -> InngestEndpoint:
        """Where events go; raises ``InngestConfigError`` when the variables cannot say."""
        return resolve_endpoint(
            event_key=self.event_key.reveal(),
            event_api_base_url=self.event_api_base_url,
            base_url=self.base_url,
            dev=self.dev,
            env=self.env,
        )

    def http(self) -> HttpClientSettings:
        """The HTTP client's timeouts and limits; raises ``ValueError`` when they contradict each other."""
        return HttpClientSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            pool_timeout=self.pool_timeout,
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )

    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, deadline=self.publish_deadline)

    def limits(self) -> BatchLimits:
        return BatchLimits(max_bytes=self.max_request_bytes)
