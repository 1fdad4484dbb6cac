"""Errors of the Inngest adapter that are not the domain's."""


class InngestConfigError(ValueError):
    """The environment does not describe an Inngest event API the service can send to."""
