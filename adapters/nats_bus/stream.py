"""The stream events are stored in: created when absent, checked when present.

An existing stream is used as it is, unless it cannot keep the bus's promises: it must capture
``<prefix>.>``, store on disk, acknowledge publishes, accept them (not be a mirror or sealed), and
drop a repeated event id for at least the configured duplicate window.
"""

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from adapters.nats_bus.errors import NatsConfigError
from adapters.nats_bus.settings import NatsSettings
from adapters.nats_bus.subjects import covers


def wanted_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream,
        description="Events recorded by eventgate",
        subjects=[f"{settings.subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        duplicate_window=settings.duplicate_window,
    )


async def ensure_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create the stream when absent; raise ``NatsConfigError`` when the one present will not do."""
    try:
        info = await js.stream_info(settings.stream)
    except NotFoundError:
        try:
            await js.add_stream(wanted_config(settings))
        except APIError as error:
            raise NatsConfigError(
                f"could not create the JetStream stream {settings.stream!r} for "
                f"{settings.subject_prefix}.>: {error.description} (error {error.err_code})"
            ) from None
        return
    problems = mismatches(info.config, settings)
    if problems:
        raise NatsConfigError(
            f"the JetStream stream {settings.stream!r} cannot be used: {'; '.join(problems)}. "
            "Change the stream, or set EVENTGATE_NATS_STREAM to another one (created at start when absent)"
        )


def mismatches(config: StreamConfig, settings: NatsSettings) -> list[str]:
    """What about an existing stream breaks the bus's guarantees, in words."""
    wanted = f"{settings.subject_prefix}.>"
    problems = []
    if not any(covers(subject, settings.subject_prefix) for subject in config.subjects or ()):
        problems.append(f"it does not capture {wanted} (its subjects: {', '.join(config.subjects or ())})")
    if config.storage != StorageType.FILE:
        problems.append("it keeps messages in memory, not on disk")
    if config.no_ack:
        problems.append("it does not acknowledge publishes (no_ack)")
    if config.sealed:
        problems.append("it is sealed")
    if config.mirror is not None:
        problems.append("it is a mirror, which takes no publishes")
    if config.duplicate_window < settings.duplicate_window:
        problems.append(
            f"its duplicate window is {config.duplicate_window:g} s, shorter than "
            f"EVENTGATE_NATS_DUPLICATE_WINDOW ({settings.duplicate_window:g} s)"
        )
    return problems
