"""Start and stop of what runs beside the requests: the hand-off to this process's relay, and the relay.

Each is a container ``Resource``: started by ``init_resources()``, stopped in reverse order by
``shutdown`` below.
"""

import asyncio
from collections.abc import AsyncIterator

from dependency_injector import containers, providers

from application.ports import HandOffPort
from application.relay import OutboxRelay, relay_running
from entrypoints.composition.resolving import settle

HAND_OFF_BATCHES = 4
"""Batches' worth of accepted events the outbox keeps in memory for this process's relay."""


async def handing_off(
    outbox: HandOffPort, owner: str, lease_seconds: float, batch_size: int
) -> AsyncIterator[HandOffPort]:
    """What this process accepts, leased to its relay ``owner`` as it is written, until shutdown."""
    outbox.hand_off_to(owner, lease_seconds, capacity=HAND_OFF_BATCHES * batch_size)
    try:
        yield outbox
    finally:
        await outbox.end_hand_off()


async def running_relay(
    relay: OutboxRelay, hand_off: HandOffPort, shutdown_grace: float
) -> AsyncIterator[OutboxRelay]:
    """The relay, delivering, woken by every append; at shutdown it drains for ``shutdown_grace``."""
    hand_off.on_append(relay.wake)
    async with relay_running(relay, shutdown_grace):
        yield relay


async def shutdown(container: containers.Container) -> None:
    """Stop every started resource after all that use it, however indirectly.

    ``container.shutdown_resources()`` orders resources by their direct arguments only: a resource
    reached through factories (the relay's outbox, through its delivery use case) would be stopped
    beside its user rather than after it. This orders by every resource a resource reaches.
    """
    started = [
        resource for resource in container.traverse(types=[providers.Resource]) if resource.initialized
    ]
    reaches = {resource: set(resource.traverse(types=[providers.Resource])) for resource in started}
    while started:
        unused = [
            resource
            for resource in started
            if not any(resource in reaches[user] for user in started if user is not resource)
        ]
        await asyncio.gather(*(settle(resource.shutdown()) for resource in unused))
        started = [resource for resource in started if resource not in unused]
