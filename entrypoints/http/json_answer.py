"""A JSON response class for a handler's plain success answer, built without Litestar's per-header work.

Litestar turns a handler's return value into a ``Response``, then an ``ASGIResponse`` whose
constructor adds each header through ``MutableScopeHeaders``: for ``POST /api`` more work than the
handler's own. When there is nothing to merge (no cookies, headers or background task; a JSON body
the status may carry), ``JsonAnswer`` sets up the very ``ASGIResponse`` that constructor would make
(``content-type``, ``content-length``, the body); anything else takes Litestar's way.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from litestar import Litestar, Request, Response
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import MediaType
from litestar.response.base import ASGIResponse
from litestar.serialization import get_serializer

T = TypeVar("T")

_JSON = MediaType.JSON.value
_JSON_BYTES = _JSON.encode("latin-1")
_NO_BODY_STATUSES = frozenset({204, 304})


class JsonAnswer(Response[T]):
    """Use as a route handler's ``response_class``; its answers are byte for byte Litestar's."""

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: Mapping[Any, Callable[[Any], Any]] | None = None,
    ) -> ASGIResponse:
        status = self.status_code or status_code or 200
        if (
            app is not None
            or self.background is not None
            or background is not None
            or self.cookies
            or cookies
            or encoded_headers is not None
            or self.headers
            or headers
            or is_head_response
            or (self.media_type or media_type or _JSON) != _JSON
            or status < 200
            or status in _NO_BODY_STATUSES
        ):
            return super().to_asgi_response(
                app,
                request,
                background=background,
                cookies=cookies,
                encoded_headers=encoded_headers,
                headers=headers,
                is_head_response=is_head_response,
                media_type=media_type,
                status_code=status_code,
                type_encoders=type_encoders,
            )
        if type_encoders:
            type_encoders = {**type_encoders, **(self.response_type_encoders or {})}
        else:
            type_encoders = self.response_type_encoders
        return _Answer(status, self.render(self.content, _JSON, get_serializer(type_encoders)), self.encoding)


class _Answer(ASGIResponse):
    """The ``ASGIResponse`` Litestar's constructor would make of a JSON body and a status, set up
    directly: that constructor adds each header through ``MutableScopeHeaders``."""

    __slots__ = ()

    def __init__(self, status: int, body: bytes, encoding: str) -> None:
        self.headers = MutableScopeHeaders()
        self.headers.headers = [(b"content-type", _JSON_BYTES), (b"content-length", b"%d" % len(body))]
        self.background = None
        self.body = body
        self.content_length = len(body)
        self._encoded_cookies = ()
        self.encoding = encoding
        self.is_head_response = False
        self.status_code = status
