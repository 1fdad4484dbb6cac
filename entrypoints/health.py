"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its work right now)."""

import asyncio

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from application.ports import ReadinessProbe
from entrypoints.api_docs import PROBLEM_JSON
from entrypoints.problems import PROBLEM_TYPE_PREFIX

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


@get("/readyz", summary="The process can record and deliver events now")
async def readyz(readiness: NamedDependency[Readiness]) -> Response[Health | dict[str, object]]:
    failures = await readiness.failures()
    if not failures:
        return Response(Health(status="ready", checks=dict.fromkeys(readiness.names, "ok")))
    detail = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
    return Response(
        {
            "type": PROBLEM_TYPE_PREFIX + "not-ready",
            "title": "Not ready",
            "status": 503,
            "detail": detail,
            "checks": failures,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": "5"},
    )
