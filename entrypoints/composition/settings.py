"""The settings tree: every setting eventgate reads, one section per adapter and concern.

Each field names its environment variable, its type and limits, its default and a one-line
description; ``environment.read_settings`` parses them all once, at start, and the README's
configuration table and ``eventgate check-config`` are made from the same tree.
"""

import ipaddress
import urllib.parse
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from adapters.inngest.settings import InngestSettings
from adapters.metrics.settings import MetricsSettings
from adapters.nats_bus.settings import NatsSettings
from adapters.nextauth.settings import NextAuthSettings
from adapters.nextauth_db.settings import DatabaseSessionSettings
from adapters.postgres_outbox.settings import PostgresOutboxSettings
from adapters.rabbitmq_bus.settings import RabbitmqSettings
from adapters.rate_limit.settings import RateLimitSettings
from adapters.setting_types import Count, PositiveSeconds, Seconds
from adapters.sqlite_outbox.settings import OutboxSettings
from application.record_user_event import DEFAULT_MAX_BATCH_EVENTS
from domain.errors import InvalidEvent
from domain.event import DEFAULT_MAX_EVENT_BYTES, check_event_name


def parse_origins(text: str) -> tuple[str, ...]:
    """Origins as browsers send them: ``https://app.example.com`` or ``http://localhost:3000``."""
    origins = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = urllib.parse.urlsplit(item)
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path not in {"", "/"}
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(origins)


def parse_trusted_proxies(text: str) -> tuple[str, ...]:
    """Addresses or networks (``10.0.0.0/8``), comma-separated, as ``ipaddress`` reads them."""
    proxies = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network such as 10.0.0.0/8") from None
        proxies.append(item)
    return tuple(proxies)


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: Annotated[str, Meta(description="Address `eventgate serve` listens on.")] = msgspec.field(
        default="127.0.0.1", name="EVENTGATE_HOST"
    )
    port: Annotated[int, Meta(ge=1, le=65535, description="Port `eventgate serve` listens on.")] = (
        msgspec.field(default=8000, name="EVENTGATE_PORT")
    )
    workers: Annotated[
        Count,
        Meta(description="Server processes sharing the port and the outbox (`eventgate serve --workers N`)."),
    ] = msgspec.field(default=1, name="EVENTGATE_WORKERS")
    allowed_origins: Annotated[
        tuple[str, ...],
        Meta(
            description="Comma-separated origins of the Next.js app (`https://app.example.com`) allowed to "
            "call from a browser, with CORS and credentials; the service's own origin always is.",
            extra={"parse": parse_origins},
        ),
    ] = msgspec.field(default=(), name="EVENTGATE_ALLOWED_ORIGINS")
    max_body_bytes: Annotated[
        Count, Meta(description="Largest request body read; a larger one is refused with 413.")
    ] = msgspec.field(default=1 << 20, name="EVENTGATE_MAX_BODY_BYTES")
    trusted_proxies: Annotated[
        tuple[str, ...],
        Meta(
            description="Comma-separated addresses or networks of the proxies in front; only from these is "
            "`X-Forwarded-For` (and `X-Forwarded-Proto`) believed. Empty: no forwarding header is believed.",
            extra={"parse": parse_trusted_proxies},
        ),
    ] = msgspec.field(default=(), name="EVENTGATE_TRUSTED_PROXIES")


class HttpServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_header_bytes: Annotated[
        int,
        Meta(
            ge=4096,
            description="Largest request head (request line and headers) read; a larger one is answered "
            "431 and its connection closed, without reading the rest.",
        ),
    ] = msgspec.field(default=32 * 1024, name="EVENTGATE_MAX_HEADER_BYTES")
    max_headers: Annotated[
        int, Meta(ge=8, description="Most header lines in a request; more are answered 431.")
    ] = msgspec.field(default=100, name="EVENTGATE_MAX_HEADERS")
    header_timeout: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a client has to send a request's whole head, from its connection's "
            "opening or the head's first byte; then it is answered 408 and closed."
        ),
    ] = msgspec.field(default=10.0, name="EVENTGATE_HEADER_TIMEOUT")
    body_timeout: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a client has to send a request's whole body once its head is read; "
            "then it is answered 408 and closed, and the request sees a disconnect."
        ),
    ] = msgspec.field(default=30.0, name="EVENTGATE_BODY_TIMEOUT")
    max_connections: Annotated[
        Count,
        Meta(
            description="Open connections per server process; one more is answered 503 and closed at "
            "once, and past this many requests in flight uvicorn answers 503."
        ),
    ] = msgspec.field(default=1000, name="EVENTGATE_MAX_CONNECTIONS")
    keepalive_timeout: Annotated[
        PositiveSeconds,
        Meta(description="Seconds an idle connection is kept open between two requests, then closed."),
    ] = msgspec.field(default=5.0, name="EVENTGATE_KEEPALIVE_TIMEOUT")


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: Annotated[
        Literal["nextauth", "memory"],
        Meta(
            description="Where sessions come from: `nextauth` (the Next.js app's NextAuth/Auth.js session "
            "cookie) or `memory` (one development user, cookie `eventgate.dev-session=dev`)."
        ),
    ] = msgspec.field(default="nextauth", name="EVENTGATE_SESSION")


class BusSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: Annotated[
        Literal["inngest", "nats", "rabbitmq", "memory"],
        Meta(
            description="Where events go: `inngest` (its HTTP event API), `nats` (a JetStream stream), "
            "`rabbitmq` (a topic exchange), or `memory` (kept in the process, for tests)."
        ),
    ] = msgspec.field(default="inngest", name="EVENTGATE_EVENT_BUS")


class DeliverySettings(msgspec.Struct, frozen=True, kw_only=True):
    mode: Annotated[
        Literal["outbox", "direct"],
        Meta(
            description="`outbox`: a request succeeds once its event is stored durably, and a relay "
            "delivers it; `direct`: a request succeeds only once the bus has the event."
        ),
    ] = msgspec.field(default="outbox", name="EVENTGATE_DELIVERY")
    linger: Annotated[
        Seconds,
        Meta(
            description="Direct mode: seconds to wait for more concurrent requests before one publish "
            "carries all their events; `0` gathers what arrives in the same turn of the event loop."
        ),
    ] = msgspec.field(default=0.0, name="EVENTGATE_DIRECT_LINGER")


class RelaySettings(msgspec.Struct, frozen=True, kw_only=True):
    in_service: Annotated[
        bool,
        Meta(
            description="Run the relay inside `eventgate serve`; `off` when a standalone `eventgate relay` "
            "delivers instead."
        ),
    ] = msgspec.field(default=True, name="EVENTGATE_RELAY")
    batch_size: Annotated[
        Count, Meta(description="Most events the relay hands to the bus in one publish.")
    ] = msgspec.field(default=1000, name="EVENTGATE_RELAY_BATCH_SIZE")
    gather_seconds: Annotated[
        Seconds,
        Meta(
            description="Seconds the relay gathers events after a batch smaller than "
            "`EVENTGATE_RELAY_BATCH_SIZE`, so that under steady load one publish carries many events; `0` "
            "sends what is there at once."
        ),
    ] = msgspec.field(default=0.02, name="EVENTGATE_RELAY_GATHER")
    lease_seconds: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a relay holds the events it is delivering; after a crash they are "
            "delivered again once it runs out, unless the relay is known dead sooner (see Delivery). "
            "Must exceed `EVENTGATE_INNGEST_PUBLISH_DEADLINE`."
        ),
    ] = msgspec.field(default=60.0, name="EVENTGATE_RELAY_LEASE")
    retry_cap: Annotated[
        PositiveSeconds,
        Meta(
            description="Longest wait, in seconds, before delivering again an event whose own delivery "
            "failed, and the longest `Retry-After` of the bus honoured."
        ),
    ] = msgspec.field(default=60.0, name="EVENTGATE_RELAY_RETRY_CAP")
    probe_interval: Annotated[
        PositiveSeconds,
        Meta(
            description="While the bus fails, the relay probes it this many seconds apart at most (from a "
            "tenth of it, doubling, with jitter), and the first probe that passes resumes delivery."
        ),
    ] = msgspec.field(default=1.0, name="EVENTGATE_RELAY_PROBE_INTERVAL")
    shutdown_grace: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds the relay keeps delivering after SIGTERM; what is left waits in the outbox "
            "for the next start."
        ),
    ] = msgspec.field(default=10.0, name="EVENTGATE_SHUTDOWN_GRACE")


def _event_name(text: str) -> str:
    try:
        check_event_name(text)
    except InvalidEvent as error:
        raise ValueError(error.message) from None
    return text


class EventSettings(msgspec.Struct, frozen=True, kw_only=True):
    allowed_names: Annotated[
        tuple[str, ...],
        Meta(
            description="Comma-separated glob patterns (`app/*`); when set, other event names are refused "
            "with 403."
        ),
    ] = msgspec.field(default=(), name="EVENTGATE_ALLOWED_EVENT_NAMES")
    default_name: Annotated[
        str, Meta(description="Event name used when a request names none.", extra={"parse": _event_name})
    ] = msgspec.field(default="app/user.event", name="EVENTGATE_DEFAULT_EVENT_NAME")
    max_bytes: Annotated[
        Count,
        Meta(
            description="Largest event accepted, in bytes of compact JSON (Inngest's own limit is 256 KiB)."
        ),
    ] = msgspec.field(default=DEFAULT_MAX_EVENT_BYTES, name="EVENTGATE_MAX_EVENT_BYTES")
    max_batch_events: Annotated[
        Count,
        Meta(
            description="Most events one `POST /api/batch` may carry; a larger batch is refused whole with 400."
        ),
    ] = msgspec.field(default=DEFAULT_MAX_BATCH_EVENTS, name="EVENTGATE_MAX_BATCH_EVENTS")


class LoggingSettings(msgspec.Struct, frozen=True, kw_only=True):
    level: Annotated[
        Literal["debug", "info", "warning", "error"], Meta(description="Least severe log level written.")
    ] = msgspec.field(default="info", name="EVENTGATE_LOG_LEVEL")
    format: Annotated[
        Literal["auto", "json", "console"],
        Meta(
            description="`json`: one JSON object per line; `console`: readable lines; `auto`: console on a "
            "terminal, else JSON."
        ),
    ] = msgspec.field(default="auto", name="EVENTGATE_LOG_FORMAT")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every section, in the order the README's configuration table lists them."""

    http: HttpSettings = HttpSettings()
    server: HttpServerSettings = HttpServerSettings()
    session: SessionSettings = SessionSettings()
    nextauth: NextAuthSettings = NextAuthSettings()
    nextauth_database: DatabaseSessionSettings = DatabaseSessionSettings()
    bus: BusSettings = BusSettings()
    inngest: InngestSettings = InngestSettings()
    nats: NatsSettings = NatsSettings()
    rabbitmq: RabbitmqSettings = RabbitmqSettings()
    delivery: DeliverySettings = DeliverySettings()
    outbox: OutboxSettings = OutboxSettings()
    outbox_postgres: PostgresOutboxSettings = PostgresOutboxSettings()
    relay: RelaySettings = RelaySettings()
    events: EventSettings = EventSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()

    @property
    def publish_deadline(self) -> float | None:
        """The longest one publish to the chosen bus may take, retries included; ``None``: no bound."""
        deadlines = {
            "inngest": self.inngest.publish_deadline,
            "nats": self.nats.publish_deadline,
            "rabbitmq": self.rabbitmq.publish_deadline,
        }
        return deadlines.get(self.bus.backend)

    @property
    def session_source(self) -> Literal["memory", "jwt", "database"]:
        """Where sessions are read: the development user, the app's JWT cookie, or the app's database."""
        if self.session.backend == "memory":
            return "memory"
        return self.nextauth_database.strategy

    @property
    def outbox_store(self) -> Literal["sqlite", "postgresql", "none"]:
        """Which store keeps accepted events: the PostgreSQL outbox when its URL is set, else the SQLite file."""
        if self.delivery.mode != "outbox":
            return "none"
        return "postgresql" if self.outbox_postgres.url else "sqlite"

    @property
    def relay_here(self) -> Literal["on", "off"]:
        """Whether this process runs a relay: in outbox mode, unless a standalone relay delivers."""
        return "on" if self.delivery.mode == "outbox" and self.relay.in_service else "off"
