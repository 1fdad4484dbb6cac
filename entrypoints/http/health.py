"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its work right now)."""

from typing import cast

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from application.check_readiness import CheckReadiness
from entrypoints.http.docs import PROBLEM_JSON, Problem


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


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
async def readyz(state: State) -> Health:
    readiness = readiness_of(state)
    failures = await readiness.failures()
    if failures:
        raise NotReady(failures)
    return Health(status="ready", checks=dict.fromkeys(readiness.names, "ok"))


def readiness_of(state: State) -> CheckReadiness:
    """The bridge to the readiness check the app's lifespan put into its state."""
    return cast(CheckReadiness, state.readiness)
