"""Whether this process can do its work right now: each part it depends on, asked together."""

import asyncio
from collections.abc import Mapping

from application.ports import ReadinessProbe

PROBE_TIMEOUT_SECONDS = 3.0


class CheckReadiness:
    """Asks the named probes at once, each within a time limit; ``None`` probes are left out."""

    def __init__(self, probes: Mapping[str, ReadinessProbe | None]) -> None:
        self._probes = {name: probe for name, probe in probes.items() if probe is not None}

    @property
    def names(self) -> list[str]:
        return list(self._probes)

    async def failures(self) -> dict[str, str]:
        """Each failing check with its reason; empty when everything is ready."""
        names = list(self._probes)
        results = await asyncio.gather(*(self._ask(self._probes[name]) for name in names))
        return {name: reason for name, reason in zip(names, results, strict=True) if reason is not None}

    async def _ask(self, probe: ReadinessProbe) -> str | None:
        try:
            return await asyncio.wait_for(probe.probe(), PROBE_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
