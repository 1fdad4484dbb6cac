"""Inngest as the event bus, through its HTTP event API.

Wiring: ``InngestSettings`` is the adapter's section of the settings tree;
``open_http_client(settings.http())`` is the process-wide HTTP client resource;
``InngestEventBus(client, settings.endpoint(), retry=settings.retry(), limits=settings.limits())``
is the ``DeliveryBus``.
"""

from adapters.inngest.batches import BatchLimits
from adapters.inngest.bus import InngestEventBus
from adapters.inngest.client import HttpClientSettings, open_http_client
from adapters.inngest.endpoint import InngestEndpoint, Mode, resolve_endpoint
from adapters.inngest.errors import InngestConfigError
from adapters.inngest.retry import RetryPolicy
from adapters.inngest.settings import InngestSettings

__all__ = [
    "BatchLimits",
    "HttpClientSettings",
    "InngestConfigError",
    "InngestEndpoint",
    "InngestEventBus",
    "InngestSettings",
    "Mode",
    "RetryPolicy",
    "open_http_client",
    "resolve_endpoint",
]
