"""NATS JetStream as the event bus.

Wiring: the composition parses the environment into ``NatsSettings``; ``open_nats_bus(settings)``
is the bus as a resource (an async context manager) and the ``DeliveryBus`` itself. Opening
raises ``NatsConfigError`` when the stream found cannot keep the bus's guarantees.
"""

from adapters.nats_bus.bus import NatsEventBus, open_nats_bus
from adapters.nats_bus.errors import NatsConfigError
from adapters.nats_bus.settings import NatsSettings
from adapters.nats_bus.subjects import event_name, subject_token

__all__ = ["NatsConfigError", "NatsEventBus", "NatsSettings", "event_name", "open_nats_bus", "subject_token"]
