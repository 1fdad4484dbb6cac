"""Containers and settings for tests, read from environment variables as the service reads them at start."""

from collections.abc import Mapping

from adapters.inngest import InngestEndpoint, InngestSettings
from entrypoints.composition.container import Container, build_container
from entrypoints.composition.environment import read_section, read_settings


def container_for(environ: Mapping[str, str]) -> Container:
    """The container ``eventgate serve`` would build from ``environ`` (its start-up checks aside)."""
    return build_container(read_settings(environ))


def inngest_settings_from(environ: Mapping[str, str]) -> InngestSettings:
    """The Inngest adapter's section, read from ``environ`` as at start."""
    return read_section(environ, InngestSettings)


def inngest_endpoint_from(environ: Mapping[str, str]) -> InngestEndpoint:
    """Where the SDKs' variables in ``environ`` send events."""
    return inngest_settings_from(environ).endpoint()
