"""Opening what the settings name, once, before a command relies on it, so that a problem is one line.

``serve`` and ``check-config`` ask the same questions: can the outbox be opened and written, does
Redis answer. ``check-config`` also asks the bus, whose absence no command refuses to start for
(accepted events wait in the outbox), but which a person checking a deployment wants to know about.
"""

import sqlite3

import asyncpg

from adapters.metrics import MeteredEventBus
from adapters.nats_bus import NatsConfigError
from adapters.nextauth_db import SessionStoreMisconfigured
from adapters.postgres_outbox.schema import SchemaTooNew
from adapters.postgres_outbox.settings import describe_url
from adapters.postgres_outbox.store import PostgresOutboxStore
from adapters.rabbitmq_bus import RabbitmqConfigError
from adapters.rate_limit import RedisUnreachable
from adapters.sqlite_outbox.store import SqliteOutboxStore
from entrypoints.composition.container import Container, build_container
from entrypoints.composition.environment import ConfigError
from entrypoints.composition.lifecycle import shutdown
from entrypoints.composition.resolving import resolve
from entrypoints.composition.settings import Settings


async def open_outbox(container: Container) -> SqliteOutboxStore | PostgresOutboxStore:
    """The configured outbox; ``ConfigError`` naming the variable when there is none or it cannot be opened."""
    settings = container.settings()
    if settings.delivery.mode != "outbox":
        raise ConfigError("EVENTGATE_DELIVERY=direct keeps no outbox")
    try:
        return await resolve(container.outbox)
    except (
        OSError,
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        SchemaTooNew,
        TimeoutError,
    ) as error:
        raise ConfigError(
            f"{outbox_variable(settings)} cannot be used: the outbox cannot be opened: {error}"
        ) from None


def outbox_variable(settings: Settings) -> str:
    """The variable that names the outbox in use, as safe to show: a PostgreSQL URL without its password."""
    if settings.outbox_store == "postgresql":
        return f"EVENTGATE_OUTBOX_URL=postgresql://{describe_url(settings.outbox_postgres.url)}"
    return f"EVENTGATE_OUTBOX_PATH={settings.outbox.path!r}"


async def check_reachable(settings: Settings) -> None:
    """Open the outbox and write to it, reach Redis, open the bus and, in database mode, the app's
    session database, as ``serve`` will at start. A bus or a session database that does not answer
    yet is no reason to refuse; a stream or queue that breaks the bus's guarantees is."""
    container = build_container(settings)
    try:
        if settings.delivery.mode == "outbox":
            reason = await (await open_outbox(container)).probe()
            if reason is not None:
                raise ConfigError(f"{outbox_variable(settings)} cannot be used: {reason}")
        try:
            await resolve(container.rate_policy)
        except RedisUnreachable as error:
            raise ConfigError(f"EVENTGATE_RATE_LIMIT_REDIS_URL: {error}") from None
        try:
            await resolve(container.delivery)
        except (NatsConfigError, RabbitmqConfigError) as error:
            raise ConfigError(str(error)) from None
        try:
            await resolve(container.session)
        except SessionStoreMisconfigured as error:
            raise ConfigError(f"EVENTGATE_NEXTAUTH_DATABASE_URL: {error.reason}") from None
    finally:
        await shutdown(container)


async def bus_problem(settings: Settings) -> str | None:
    """Why the configured bus cannot take events right now, or ``None`` when it answers."""
    container = build_container(settings)
    try:
        bus: MeteredEventBus = await resolve(container.delivery)
        return await bus.probe()
    finally:
        await shutdown(container)
