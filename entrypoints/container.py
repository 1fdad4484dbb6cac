"""The dependency-injector container: which adapter serves each port, chosen by configuration."""

from collections.abc import Mapping

from dependency_injector import containers, providers

from adapters.memory import InMemoryEventBus, InMemorySession
from application.record_user_event import RecordUserEvent
from domain.event import EventRules
from domain.user import User
from entrypoints.settings import load_config

DEV_USERS = {"dev": User(id="dev-user", name="Dev User", email="dev@example.com")}
"""The memory session's only user, signed in by the cookie ``eventgate.dev-session=dev``."""


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    session = providers.Selector(
        config.session.backend,
        memory=providers.Singleton(InMemorySession, users_by_token=DEV_USERS),
    )

    event_bus = providers.Selector(
        config.event_bus.backend,
        memory=providers.Singleton(InMemoryEventBus),
    )

    event_rules = providers.Singleton(EventRules, max_event_bytes=config.events.max_bytes)

    record_user_event = providers.Factory(
        RecordUserEvent,
        session=session,
        event_bus=event_bus,
        default_event_name=config.events.default_name,
        rules=event_rules,
    )


def build_container(environ: Mapping[str, str]) -> Container:
    """A container configured from ``environ``; raises ``ConfigError`` when the configuration is wrong."""
    container = Container()
    container.config.from_dict(load_config(environ))
    return container
