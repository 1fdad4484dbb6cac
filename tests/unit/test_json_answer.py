"""``JsonAnswer`` sends exactly what Litestar's own response would, and leaves to Litestar what it does not do."""

from typing import Any

import msgspec
import pytest
from litestar import Litestar, post
from litestar.datastructures import Cookie, ResponseHeader
from litestar.testing import AsyncTestClient

from entrypoints.http.json_answer import JsonAnswer

pytestmark = pytest.mark.anyio


class Tag:
    """A type msgspec cannot encode by itself: the handler's type encoders must reach the body."""

    def __init__(self, label: str) -> None:
        self.label = label


class Answer(msgspec.Struct):
    ids: list[str]
    tag: Any = None
    success: str = "true"


def app_answering(content: Answer, **options: Any) -> Litestar:
    """``POST /lean`` answers with ``JsonAnswer``, ``POST /litestar`` with Litestar's default, alike otherwise."""

    @post("/lean", response_class=JsonAnswer, sync_to_thread=False, **options)
    def lean() -> Answer:
        return content

    @post("/litestar", sync_to_thread=False, **options)
    def litestar() -> Answer:
        return content

    return Litestar([lean, litestar], type_encoders={Tag: lambda tag: tag.label}, logging_config=None)


@pytest.mark.parametrize(
    "options",
    [
        {"status_code": 200},
        {"status_code": 201},
        {"status_code": 200, "response_headers": [ResponseHeader(name="x-extra", value="1")]},
        {"status_code": 200, "response_cookies": [Cookie(key="session", value="1")]},
    ],
)
@pytest.mark.parametrize("content", [Answer(ids=["a", "b"]), Answer(ids=[], tag=Tag("tagged"))])
async def test_answers_byte_for_byte_as_litestar_does(content: Answer, options: dict[str, Any]) -> None:
    async with AsyncTestClient(app=app_answering(content, **options)) as client:
        lean = await client.post("/lean")
        litestar = await client.post("/litestar")

    assert (lean.status_code, lean.headers.raw, lean.content) == (
        litestar.status_code,
        litestar.headers.raw,
        litestar.content,
    )
