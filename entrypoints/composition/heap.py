"""The garbage collector of a long-running process, once its start-up is done."""

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations, less deallocations, of tracked objects between two collections of the youngest
generation (Python's default is 700)."""


def tune_collector_after_startup() -> None:
    """Leave what start-up built out of every later garbage collection, and collect young objects
    less often.

    The app, its OpenAPI schema and the libraries' modules are hundreds of thousands of objects
    that live as long as the process. In the collector's oldest generation, every full collection
    walks them all again: under load that was pauses of up to 250 ms and about a tenth of the CPU.
    Frozen, a collection walks only what was allocated since.

    A request's objects are freed by reference counting when it ends, but the requests in flight
    hold several hundred between them: at Python's default threshold the youngest generation was
    collected every few dozen requests, walking their live objects for nothing (a few per cent of
    the CPU under load). The higher threshold keeps a young collection for real garbage; it holds
    back at most that many objects more.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
