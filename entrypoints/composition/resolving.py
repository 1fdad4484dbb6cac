"""Getting what a container provides, whether or not an asynchronous resource stands behind it."""

import inspect
from collections.abc import Awaitable
from typing import TypeVar, cast

from dependency_injector import providers

T = TypeVar("T")


async def resolve(provider: providers.Provider[T]) -> T:
    """What ``provider`` provides: awaited when an asynchronous resource stands behind it."""
    provided: object = provider()
    if inspect.isawaitable(provided):
        provided = await provided
    return cast(T, provided)


async def settle(result: Awaitable[None] | None) -> None:
    """Container resource calls return an awaitable only when some resource is asynchronous."""
    if result is not None:
        await result
