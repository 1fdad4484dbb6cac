"""The limits the HTTP server holds every connection to, before any request reaches the app.

uvicorn's httptools protocol reads a request head of any size, however slowly it comes, and keeps
any connection that sends nothing open for ever; a header that arrives in many reads is also joined
by repeated copying, so its cost grows with the square of its size. ``BoundedHttpToolsProtocol`` is
that protocol with the missing limits:

- a request head that does not arrive whole in one read is held, unparsed, from its second read
  until its end (``CRLF CRLF``) arrives, then parsed in one go; past ``max_header_bytes``, or with
  more than ``max_headers`` header lines, it is answered 431 and the connection closed, without
  reading further;
- the whole head must arrive within ``header_timeout`` (counted from the connection's opening for
  its first request), and the whole body within ``body_timeout`` of the head; a client too slow is
  answered 408 and closed, and the request under way sees ``http.disconnect``;
- a connection past ``max_connections`` is answered 503 and closed at once, so idle connections
  cannot use up the process's file descriptors.

It also writes each answer's head together with the first part of its body (``HeadWithBody``):
uvicorn writes them apart, two system calls and two TCP segments for every small answer.

uvicorn itself closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 when as
many requests are in flight as ``limit_concurrency``; ``uvicorn_options`` sets both from the same
settings. When a request's head starts in the same read as the end of the previous request
(pipelining), that read's part of it is not counted: a head can then exceed the bound by one read,
at most 256 KiB.
"""

import asyncio
import functools
import http
import resource
from typing import Any, Final, Protocol

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

_HEAD_END: Final = b"\r\n\r\n"
# What the process needs besides its clients' connections: the listening socket, the outbox, the
# bus's and Redis's connection pools, log and metrics files.
_OTHER_FILE_DESCRIPTORS: Final = 256


class ServerLimits(Protocol):
    """The limits, as ``HttpServerSettings`` holds them: sizes in bytes, times in seconds."""

    @property
    def max_header_bytes(self) -> int: ...
    @property
    def max_headers(self) -> int: ...
    @property
    def header_timeout(self) -> float: ...
    @property
    def body_timeout(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def keepalive_timeout(self) -> float: ...


class ServerLimitsError(Exception):
    """The process cannot hold the connections the settings allow."""


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head that was answered already."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, holding each connection to ``settings`` (see the module)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        settings: ServerLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._settings = settings
        # Between two requests, or inside a head.
        self._reading_head = True
        # The parser has begun a head it has not finished, with this many of its bytes.
        self._head_begun = False
        self._head_parsed = 0
        # Bytes held for the parser. The first ``_tail_parsed`` of them are the last bytes it was given,
        # kept only to find a head's end that starts among them.
        self._held = bytearray()
        self._tail_parsed = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._settings.max_connections:
            # Not counted among the connections being served, now that it is refused.
            self.connections.discard(self)
            self._answer_and_close(http.HTTPStatus.SERVICE_UNAVAILABLE, b"retry-after: 1\r\n")
            return
        self._expect_head_in_time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        starts_head = self._reading_head
        parsed: bytes | bytearray = data
        if starts_head and (self._held or self._head_begun or len(data) > self._settings.max_header_bytes):
            head = self._whole_head(data)
            if head is None:
                return
            parsed = head
        self._parse(parsed)
        if self._reading_head:
            if self._head_begun:
                # Part of a head came: the rest is held until its end, which may start in this read.
                self._held += parsed[-len(_HEAD_END) + 1 :]
                self._tail_parsed = len(self._held)
                self._head_parsed = len(parsed) if starts_head else 0
                self._expect_head_in_time()
            return
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self._body_deadline is None:
            self._body_deadline = self.loop.call_later(self._settings.body_timeout, self._body_too_slow)

    def _parse(self, data: bytes | bytearray) -> None:
        """Hand ``data`` to the parser as uvicorn does, but leave a head answered already as it is."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if not isinstance(error.__context__, _HeadRefused):
                self._invalid_request()
        except httptools.HttpParserError:
            self._invalid_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _invalid_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _whole_head(self, data: bytes) -> bytearray | None:
        """What to parse once a head has ended within its bound: the bytes held, and ``data``.

        ``None`` while the head has not ended (``data`` is then held), or when it outgrew its bound (it
        is then answered).
        """
        held = self._held
        search_from = max(len(held) - len(_HEAD_END) + 1, 0)
        held += data
        end = held.find(_HEAD_END, search_from)
        received = len(held) if end == -1 else end + len(_HEAD_END)
        if self._head_parsed + received - self._tail_parsed > self._settings.max_header_bytes:
            self._answer_and_close(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return None
        if end == -1:
            self._unset_keepalive_if_required()
            self._expect_head_in_time()
            return None
        head = held[self._tail_parsed :]
        self._held, self._tail_parsed = bytearray(), 0
        return head

    def _expect_head_in_time(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self._settings.header_timeout, self._head_too_slow)

    # The parser's callbacks run for every request: they call uvicorn's own directly, which costs less
    # than ``super()``.

    def on_message_begin(self) -> None:
        self._head_begun = True
        HttpToolsProtocol.on_message_begin(self)

    def on_headers_complete(self) -> None:
        self._reading_head = self._head_begun = False
        self._head_parsed = 0
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        if len(self.headers) > self._settings.max_headers:
            self._answer_and_close(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            raise _HeadRefused
        HttpToolsProtocol.on_headers_complete(self)
        cycle = self.cycle
        if cycle is not None:
            cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._reading_head = True
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None
        HttpToolsProtocol.on_message_complete(self)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._held or self._head_begun:
            self._answer_and_close(http.HTTPStatus.REQUEST_TIMEOUT)
        else:
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()
            return
        # The app's task sees a disconnect, and whatever it sends now goes nowhere.
        cycle.disconnected = True
        cycle.message_event.set()
        self._answer_and_close(http.HTTPStatus.REQUEST_TIMEOUT)

    def _answer_and_close(self, status: http.HTTPStatus, extra_headers: bytes = b"") -> None:
        """Answer ``status`` with its phrase as a plain-text body, and close the connection."""
        self._cancel_deadlines()
        self._held, self._tail_parsed = bytearray(), 0
        body = status.phrase.encode("ascii")
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")]
        head.extend(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers)
        head.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n"
            % len(body)
        )
        self.transport.write(b"".join([*head, extra_headers, b"\r\n", body]))
        self.transport.close()

    def _cancel_deadlines(self) -> None:
        for deadline in (self._head_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        self._head_deadline = self._body_deadline = None


class HeadWithBody:
    """The transport as one request's answer sees it: the answer's head is written with the first
    part of its body, in one write (one system call and one TCP segment for a small answer, not two).

    An answer to ``HEAD`` has no body to wait for: its head is written at once. Once the head is
    held, the request's cycle is no longer needed and is let go: the cycle refers to this object as
    its transport, and a reference back would make every request a garbage cycle, left for the
    cyclic collector instead of being freed when the request ends.
    """

    __slots__ = ("_cycle", "_head", "_head_sent", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = None if cycle.scope["method"] == "HEAD" else cycle
        self._head: bytes | None = None
        self._head_sent = False

    def write(self, data: bytes) -> None:
        if self._head_sent:
            self._transport.write(data)
        elif self._head is not None:
            self._head_sent = True
            self._transport.write(self._head + data)
            self._head = None
        elif self._cycle is not None and self._cycle.response_started:
            self._head = data
            self._cycle = None
        else:  # ``100 Continue`` before the answer, or a ``HEAD`` answer's head
            self._transport.write(data)

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


def uvicorn_options(settings: ServerLimits) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` or ``uvicorn.Config`` that hold the server to
    ``settings``. The protocol is a ``functools.partial`` of a module-level class, so that
    ``--workers N`` can hand it to each worker process."""
    return {
        "http": functools.partial(BoundedHttpToolsProtocol, settings=settings),
        "timeout_keep_alive": settings.keepalive_timeout,
        # uvicorn answers 503 from this many connections or requests in flight; connections never get
        # there, as the protocol refuses one more than ``max_connections``.
        "limit_concurrency": settings.max_connections + 1,
    }


def ensure_file_descriptors(settings: ServerLimits) -> int:
    """Raise the process's soft limit on open files so that ``max_connections`` fit with room to
    spare, up to the hard limit; return the limit now in force. Workers inherit it.

    Raises ``ServerLimitsError`` when the hard limit is too low, naming what to change.
    """
    needed = settings.max_connections + _OTHER_FILE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ServerLimitsError(
            f"EVENTGATE_MAX_CONNECTIONS={settings.max_connections} needs {needed} open files, but this "
            f"process may open at most {hard} (ulimit -Hn): lower EVENTGATE_MAX_CONNECTIONS to at most "
            f"{max(hard - _OTHER_FILE_DESCRIPTORS, 1)}, or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed
