"""What a command checks of the settings before it starts, beyond each value on its own."""

from adapters.inngest import InngestConfigError
from adapters.nextauth_db import DatabaseSession, DatabaseSessionConfigError
from domain.errors import EventNotAllowed
from domain.event import EventRules
from entrypoints.composition.environment import ConfigError
from entrypoints.composition.settings import Settings


def check_can_serve(settings: Settings) -> None:
    """Serving requests needs a way to read sessions (the app's secret, or in database mode a usable
    database setting, and then no secret), and a default event name it allows."""
    events = settings.events
    try:
        EventRules(allowed_names=events.allowed_names).check_name_allowed(events.default_name)
    except EventNotAllowed as error:
        raise ConfigError(f"EVENTGATE_DEFAULT_EVENT_NAME is not allowed: {error}") from None
    nextauth = settings.nextauth
    if settings.session_source == "database":
        try:
            DatabaseSession.from_settings(settings.nextauth_database, nextauth.version)
        except DatabaseSessionConfigError as error:
            raise ConfigError(str(error)) from None
    if settings.session_source == "jwt" and not nextauth.secrets():
        raise ConfigError(
            f"no session secret: set {nextauth.secret_variable} to the secret of the Next.js app whose "
            "sessions eventgate serves (or EVENTGATE_SESSION=memory for a development user)"
        )


def check_can_publish(settings: Settings) -> None:
    """Publishing needs a bus it can address, and leases longer than a publish may take."""
    if settings.bus.backend == "inngest":
        inngest = settings.inngest
        try:
            inngest.endpoint()
            inngest.http()
        except InngestConfigError as error:
            raise ConfigError(str(error)) from None
        except ValueError as error:
            raise ConfigError(f"invalid Inngest settings: {error}") from None
    lease, deadline = settings.relay.lease_seconds, settings.publish_deadline
    if deadline is not None and lease <= deadline:
        variable = f"EVENTGATE_{settings.bus.backend.upper()}_PUBLISH_DEADLINE"
        raise ConfigError(
            f"EVENTGATE_RELAY_LEASE ({lease:g} s) must exceed {variable} ({deadline:g} s), or another "
            "relay could deliver the events of a publish still under way"
        )
