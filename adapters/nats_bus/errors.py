"""Errors of the NATS adapter that are not the domain's."""


class NatsConfigError(ValueError):
    """The settings, or the stream found on the server, cannot give the bus's guarantees."""
