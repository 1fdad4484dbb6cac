from pathlib import Path

import pytest

from tests.interop.nodejs import NodeLibrary, installed

INTEROP = Path(__file__).resolve().parent / "interop"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def next_auth_v4() -> NodeLibrary:
    """next-auth v4's ``next-auth/jwt``, installed by npm in ``interop/v4/``."""
    return installed(INTEROP / "v4", "nextauth4.cjs")


@pytest.fixture(scope="session")
def auth_core_v5() -> NodeLibrary:
    """Auth.js v5's ``@auth/core/jwt`` (and its A256GCM-issuing 0.22 release), in ``interop/v5/``."""
    return installed(INTEROP / "v5", "authcore5.mjs")
