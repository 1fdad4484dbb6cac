"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its work right now)."""

import asyncio

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from application.ports import ReadinessProbe
from entrypoints.api_docs import PROBLEM_JSON, Problem

PROBE_TIMEOUT_SECONDS = 3.0


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


class Readiness:
    """The named probes of what this process depends on, asked together within a time limit.

    The app's lifespan adds them as it opens what they probe.
    """

    def __init__(self) -> None:
        self._probes: dict[str, ReadinessProbe] = {}

    def add(self, name: str, probe: ReadinessProbe) -> None:
        self._probes[name] = probe

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


@get("/healthz", summary="The process is alive", sync_to_thread=False)
def healthz() -> Health:
    return Health(status="ok")


class NotReady(Exception):
    """Some check failed; ``failures`` names each failing check with its reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in failures.items()))
        self.failures = failures


@get(
    "/readyz",
    summary="The process can record and deliver events now",
    responses={
        503: ResponseSpec(Problem, media_type=PROBLEM_JSON, description="A check failed; it is named.")
    },
)
async def readyz(readiness: NamedDependency[Readiness]) -> Health:
    failures = await readiness.failures()
    if failures:
        raise NotReady(failures)
    return Health(status="ready", checks=dict.fromkeys(readiness.names, "ok"))
