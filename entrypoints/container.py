"""The dependency-injector container: which adapter serves each port, chosen by configuration."""

import os
import socket
import uuid
from collections.abc import Mapping

from dependency_injector import containers, providers

from adapters.coalescing import CoalescingEventBus
from adapters.event_json import encoded_size
from adapters.inngest import InngestConfigError, InngestEventBus, open_http_client, settings_from_env
from adapters.memory import InMemoryEventBus, InMemorySession
from adapters.metrics import MeteredEventBus, MeteredOutbox, Metrics, build_registry
from adapters.nextauth import NextAuthSession
from adapters.rate_limit import InMemoryRateLimiter, open_redis_rate_limiter
from adapters.sqlite_outbox.store import open_outbox
from application.deliver_outbox_events import DeliverOutboxEvents, RetrySchedule
from application.rate_policy import Rate, RatePolicy
from application.record_user_event import RecordUserEvent
from application.relay import OutboxRelay
from domain.event import EventRules
from domain.user import User
from entrypoints.settings import ConfigError, check_can_serve, load_config

DEV_USERS = {"dev": User(id="dev-user", name="Dev User", email="dev@example.com")}
"""The memory session's only user, signed in by the cookie ``eventgate.dev-session=dev``."""


def relay_owner_id() -> str:
    """Names this process in outbox leases: unique even when two processes share a pid namespace."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def rate_or_none(limit_and_period: tuple[int, float] | None) -> Rate | None:
    return None if limit_and_period is None else Rate(*limit_and_period)


def relay_stuck_after(retry_cap: float, lease_seconds: float) -> float:
    """Longer than the longest pause plus the longest publish: a quiet relay beyond it is stuck."""
    return retry_cap + lease_seconds + 30


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    session = providers.Selector(
        config.session.backend,
        nextauth=providers.Singleton(
            NextAuthSession,
            secrets=config.session.secrets,
            version=config.session.version,
            cookie_name=config.session.cookie_name,
            allow_bearer=config.session.allow_bearer,
        ),
        memory=providers.Singleton(InMemorySession, users_by_token=DEV_USERS),
    )

    inngest_settings = providers.Singleton(settings_from_env, config.inngest)

    http_client = providers.Resource(open_http_client, inngest_settings.provided.http)

    metrics_registry = providers.Singleton(build_registry)
    metrics = providers.Singleton(Metrics, registry=metrics_registry)

    inngest_bus = providers.Singleton(
        InngestEventBus,
        client=http_client,
        endpoint=inngest_settings.provided.endpoint,
        retry=inngest_settings.provided.retry,
        limits=inngest_settings.provided.limits,
    )

    bus_backend = providers.Selector(
        config.event_bus.backend, inngest=inngest_bus, memory=providers.Singleton(InMemoryEventBus)
    )

    bus = providers.Singleton(
        MeteredEventBus, inner=bus_backend, metrics=metrics, backend=config.event_bus.backend
    )
    """The event bus itself, counted: where the relay delivers, or where direct mode publishes."""

    outbox = providers.Resource(
        open_outbox,
        path=config.outbox.path,
        sync=config.outbox.sync,
        max_events=config.outbox.max_events,
        max_bytes=config.outbox.max_bytes,
        retention_seconds=config.outbox.retention_seconds,
    )

    direct_bus = providers.Singleton(CoalescingEventBus, inner=bus, linger=config.delivery.linger)

    event_bus = providers.Selector(config.delivery.mode, direct=direct_bus, outbox=outbox)
    """What the use case publishes to: the outbox, or in direct mode the bus, one publish for the
    events of concurrent requests."""

    relay_owner = providers.Singleton(relay_owner_id)

    relay = providers.Singleton(
        OutboxRelay,
        gather_interval=config.relay.gather_seconds,
        stuck_after=providers.Callable(
            relay_stuck_after, retry_cap=config.relay.retry_cap, lease_seconds=config.relay.lease_seconds
        ),
        deliver=providers.Factory(
            DeliverOutboxEvents,
            outbox=providers.Factory(
                MeteredOutbox, inner=outbox, metrics=metrics, backend=config.event_bus.backend
            ),
            bus=bus,
            owner=relay_owner,
            batch_size=config.relay.batch_size,
            lease_seconds=config.relay.lease_seconds,
            schedule=providers.Factory(RetrySchedule, cap=config.relay.retry_cap),
        ),
    )

    rate_policy = providers.Selector(
        config.rate_limit.backend,
        off=providers.Object(None),
        memory=providers.Singleton(
            RatePolicy,
            limiter=providers.Singleton(InMemoryRateLimiter),
            per_user=providers.Callable(rate_or_none, config.rate_limit.per_user),
            per_address=providers.Callable(rate_or_none, config.rate_limit.per_address),
        ),
        redis=providers.Singleton(
            RatePolicy,
            limiter=providers.Resource(open_redis_rate_limiter, config.rate_limit.redis_url),
            per_user=providers.Callable(rate_or_none, config.rate_limit.per_user),
            per_address=providers.Callable(rate_or_none, config.rate_limit.per_address),
        ),
    )

    event_rules = providers.Singleton(
        EventRules,
        max_event_bytes=config.events.max_bytes,
        allowed_names=config.events.allowed_names,
        measure=providers.Object(encoded_size),
    )

    record_user_event = providers.Factory(
        RecordUserEvent,
        session=session,
        event_bus=event_bus,
        default_event_name=config.events.default_name,
        rules=event_rules,
        rate_policy=rate_policy,
        max_batch_events=config.events.max_batch_events,
    )


def build_container(
    environ: Mapping[str, str], *, reads_sessions: bool = True, publishes: bool = True
) -> Container:
    """A container configured from ``environ``; raises ``ConfigError`` when the configuration is wrong.

    Commands that never read a session (the relay) or never publish (the outbox tools) say so,
    and then need no session secret or no Inngest key.
    """
    config = load_config(environ)
    if reads_sessions:
        check_can_serve(config)
    if publishes and config["event_bus"]["backend"] == "inngest":
        try:
            deadline = settings_from_env(config["inngest"]).retry.deadline
        except InngestConfigError as error:
            raise ConfigError(str(error)) from None
        if config["relay"]["lease_seconds"] <= deadline:
            raise ConfigError(
                f"EVENTGATE_RELAY_LEASE ({config['relay']['lease_seconds']:g} s) must exceed "
                f"EVENTGATE_INNGEST_PUBLISH_DEADLINE ({deadline:g} s), or another relay could deliver "
                "the events of a publish still under way"
            )
    container = Container()
    container.config.from_dict(config)
    return container
