"""The dependency-injector container: which adapter serves each port, chosen by the settings.

Providers are named by their role: ``publisher`` is what the use case publishes to (the outbox, or
in direct mode the coalesced bus), ``delivery`` what the relay and direct mode hand events to (the
chosen ``bus_backend``, counted). ``build_container`` keeps only the branches the settings choose,
so that ``init_resources()`` starts exactly what this configuration uses, and nothing else.
"""

import os
import socket
import uuid

from dependency_injector import containers, providers

from adapters.coalescing import open_coalescer
from adapters.event_ids import new_event_id
from adapters.event_json import encoded_size
from adapters.inngest import InngestEventBus, open_http_client
from adapters.memory import InMemoryEventBus, InMemorySession
from adapters.metrics import DeliveryPauses, MeteredEventBus, MeteredOutbox, Metrics, build_registry
from adapters.nats_bus import open_nats_bus
from adapters.nextauth import NextAuthSession
from adapters.nextauth_db import DatabaseSession
from adapters.postgres_outbox.store import open_postgres_outbox
from adapters.rabbitmq_bus import open_rabbitmq_bus
from adapters.rate_limit import InMemoryRateLimiter, open_redis_rate_limiter
from adapters.sqlite_outbox.publisher import OutboxPublisher
from adapters.sqlite_outbox.store import open_outbox_store
from application.bus_outage import ProbeSchedule
from application.check_readiness import CheckReadiness
from application.deliver_outbox_events import DeliverOutboxEvents, RetrySchedule
from application.ports import ReadinessProbe
from application.rate_policy import RatePolicy
from application.record_user_event import RecordUserEvent
from application.relay import OutboxRelay
from domain.event import EventRules
from domain.user import User
from entrypoints.composition.lifecycle import handing_off, running_relay
from entrypoints.composition.settings import Settings

DEV_USERS = {"dev": User(id="dev-user", name="Dev User", email="dev@example.com")}
"""The memory session's only user, signed in by the cookie ``eventgate.dev-session=dev``."""


def relay_owner_id() -> str:
    """Names this process in outbox leases: unique even when two processes share a pid namespace."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def relay_stuck_after(retry_cap: float, lease_seconds: float) -> float:
    """Longer than the longest wait for a probe plus the longest publish: a quiet relay beyond it is stuck."""
    return retry_cap + lease_seconds + 30


def relay_probes(interval: float, retry_cap: float) -> ProbeSchedule:
    """Probes of a failing bus from a tenth of ``interval`` apart up to ``interval``, honouring a
    ``Retry-After`` up to ``retry_cap``."""
    return ProbeSchedule(first=interval / 10, cap=interval, max_retry_after=retry_cap)


def outbox_probes(store: str, **probes: ReadinessProbe | None) -> dict[str, ReadinessProbe | None]:
    """The readiness checks of outbox mode, the outbox's named by its store (``outbox.postgresql``)."""
    outbox = probes.pop("outbox")
    return {f"outbox.{store}": outbox, **probes}


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    _inngest = settings.provided.inngest
    _relay = settings.provided.relay
    _limits = settings.provided.rate_limit

    metrics_registry = providers.Singleton(
        build_registry, directory=settings.provided.metrics.multiprocess_dir
    )
    metrics = providers.Singleton(Metrics, registry=metrics_registry)

    session = providers.Selector(
        settings.provided.session_source,
        jwt=providers.Singleton(NextAuthSession.from_settings, settings.provided.nextauth),
        database=providers.Resource(
            DatabaseSession.from_settings,
            settings.provided.nextauth_database,
            version=settings.provided.nextauth.version,
            cookie_name=settings.provided.nextauth.session_cookie_name,
        ),
        memory=providers.Singleton(InMemorySession, users_by_token=DEV_USERS),
    )

    bus_backend = providers.Selector(
        settings.provided.bus.backend,
        inngest=providers.Factory(
            InngestEventBus,
            client=providers.Resource(open_http_client, _inngest.http.call()),
            endpoint=_inngest.endpoint.call(),
            retry=_inngest.retry.call(),
            limits=_inngest.limits.call(),
        ),
        nats=providers.Resource(open_nats_bus, settings.provided.nats),
        rabbitmq=providers.Resource(open_rabbitmq_bus, settings.provided.rabbitmq),
        memory=providers.Singleton(InMemoryEventBus),
    )

    delivery = providers.Factory(
        MeteredEventBus, inner=bus_backend, metrics=metrics, backend=settings.provided.bus.backend
    )

    outbox = providers.Selector(
        settings.provided.outbox_store,
        sqlite=providers.Resource(open_outbox_store, settings.provided.outbox),
        postgresql=providers.Resource(
            open_postgres_outbox,
            settings.provided.outbox_postgres,
            max_events=settings.provided.outbox.max_events,
            max_bytes=settings.provided.outbox.max_bytes,
            retention_seconds=settings.provided.outbox.retention_seconds,
            keep_delivered=settings.provided.outbox.keep_delivered,
        ),
    )
    """The store of accepted events, in outbox mode: the relay's, the CLI's and the metrics'."""

    publisher = providers.Selector(
        settings.provided.delivery.mode,
        outbox=providers.Factory(OutboxPublisher, store=outbox),
        direct=providers.Resource(open_coalescer, inner=delivery, linger=settings.provided.delivery.linger),
    )

    relay_owner = providers.Singleton(relay_owner_id)
    """Names this process's relay in the leases it takes."""

    relay = providers.Selector(
        settings.provided.relay_here,
        on=providers.Resource(
            running_relay,
            relay=providers.Factory(
                OutboxRelay,
                bus_probe=delivery,
                probes=providers.Callable(
                    relay_probes, interval=_relay.probe_interval, retry_cap=_relay.retry_cap
                ),
                on_pause=providers.Factory(
                    DeliveryPauses, metrics=metrics, backend=settings.provided.bus.backend
                ),
                gather_interval=_relay.gather_seconds,
                stuck_after=providers.Callable(
                    relay_stuck_after, retry_cap=_relay.retry_cap, lease_seconds=_relay.lease_seconds
                ),
                deliver=providers.Factory(
                    DeliverOutboxEvents,
                    outbox=providers.Factory(
                        MeteredOutbox, inner=outbox, metrics=metrics, backend=settings.provided.bus.backend
                    ),
                    bus=delivery,
                    owner=relay_owner,
                    batch_size=_relay.batch_size,
                    lease_seconds=_relay.lease_seconds,
                    schedule=providers.Factory(RetrySchedule, cap=_relay.retry_cap),
                ),
            ),
            hand_off=providers.Resource(
                handing_off,
                outbox=outbox,
                owner=relay_owner,
                lease_seconds=_relay.lease_seconds,
                batch_size=_relay.batch_size,
            ),
            shutdown_grace=_relay.shutdown_grace,
        ),
        off=providers.Object(None),
    )

    rate_policy = providers.Selector(
        _limits.backend,
        off=providers.Object(None),
        memory=providers.Factory(
            RatePolicy,
            limiter=providers.Singleton(InMemoryRateLimiter),
            per_user=_limits.per_user,
            per_address=_limits.per_address,
        ),
        redis=providers.Factory(
            RatePolicy,
            limiter=providers.Resource(open_redis_rate_limiter, _limits.redis_url.reveal.call()),
            per_user=_limits.per_user,
            per_address=_limits.per_address,
        ),
    )

    session_store = providers.Selector(
        settings.provided.session_source,
        database=session,
        jwt=providers.Object(None),
        memory=providers.Object(None),
    )
    """The app's session database, when sessions are read there: a readiness check of its own."""

    record_user_event = providers.Factory(
        RecordUserEvent,
        session=session,
        event_bus=publisher,
        default_event_name=settings.provided.events.default_name,
        rules=providers.Factory(
            EventRules,
            max_event_bytes=settings.provided.events.max_bytes,
            allowed_names=settings.provided.events.allowed_names,
            measure=providers.Object(encoded_size),
        ),
        new_id=providers.Object(new_event_id),
        rate_policy=rate_policy,
        max_batch_events=settings.provided.events.max_batch_events,
    )

    readiness = providers.Selector(
        settings.provided.delivery.mode,
        outbox=providers.Factory(
            CheckReadiness,
            providers.Callable(
                outbox_probes,
                settings.provided.outbox_store,
                outbox=outbox,
                relay=relay,
                session_store=session_store,
            ),
        ),
        direct=providers.Factory(
            CheckReadiness, providers.Dict(event_bus=publisher, session_store=session_store)
        ),
    )


def build_container(settings: Settings) -> Container:
    """A container for ``settings`` that holds, of each choice, only the branch the settings make."""
    container = Container(settings=providers.Object(settings))
    for selector in list(container.traverse(types=[providers.Selector])):
        choose = selector.selector
        if choose is not None:
            key = choose()
            chosen = selector.providers.get(key)
            selector.set_providers(**({key: chosen} if chosen is not None else {}))
    return container
