"""A Prometheus histogram that counts a batch of observations at once.

prometheus_client's ``Histogram.observe`` takes two locks per observation (the sum's and a bucket's),
and in multiprocess mode writes the process's file twice. The relay observes one delivery latency
per event, thousands a second: counted per batch, that is one lock per bucket the batch falls in.
"""

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import Histogram


class BatchHistogram(Histogram):
    """A ``Histogram`` whose ``observe_batch`` adds many observations as ``observe`` would, one by one.

    The batch's count per bucket and its sum are found first, then added in one increment each, to
    the very values ``observe`` increments: what is exposed, and how processes are merged, is
    unchanged. It relies on the bucket and sum values of prometheus_client's ``Histogram``, which a
    test compares with ``observe`` so that an upgrade changing them shows.
    """

    def observe_batch(self, amounts: Iterable[float]) -> None:
        """Observe each amount (call it on a child: a histogram with its labels given)."""
        bounds = self._upper_bounds
        counts = [0] * len(bounds)
        total = 0.0
        for amount in amounts:
            counts[bisect_left(bounds, amount)] += 1
            total += amount
        if not any(counts):
            return
        self._sum.inc(total)
        for bucket, count in zip(self._buckets, counts, strict=True):
            if count:
                bucket.inc(count)
