"""RabbitMQ as the event bus.

Wiring: the composition parses the environment into ``RabbitmqSettings``; ``open_rabbitmq_bus(settings)``
is the bus as a resource (an async context manager) and the ``DeliveryBus`` itself. Opening
raises ``RabbitmqConfigError`` when the broker holds an exchange or queue that will not do.
"""

from adapters.rabbitmq_bus.bus import RabbitmqEventBus, open_rabbitmq_bus
from adapters.rabbitmq_bus.errors import RabbitmqConfigError
from adapters.rabbitmq_bus.settings import RabbitmqSettings

__all__ = ["RabbitmqConfigError", "RabbitmqEventBus", "RabbitmqSettings", "open_rabbitmq_bus"]
