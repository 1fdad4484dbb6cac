"""Errors of the RabbitMQ adapter that are not the domain's."""


class RabbitmqConfigError(ValueError):
    """The broker holds an exchange or queue of that name that cannot give the bus's guarantees."""
