"""nats-py's client, with a way in and a way out for a batch's messages that skip its per-message work.

Out: ``write`` hands already encoded frames (``frames.encode_publishes``) to the client's writer as
one command, where ``Client.publish`` would build and queue each message's frame in turn.

In: the messages a ``direct`` subscription receives without headers go to its handler as they are
read, subject and body as the server sent them. nats-py would make each a ``Msg``, queue it for the
subscription's task and await its callback: several times the work of reading the stream's
acknowledgement itself. Messages with headers (the server's status replies, such as no responders),
and every other subscription's, take nats-py's way to the subscription's callback.

Both rest on nats-py's internals (its command queue, its writer, its dispatch of what it reads),
which the version constraint pins; the bus's tests exercise both ways through a real server.
"""

from collections.abc import Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription

AnswerHandler = Callable[[bytes, bytes], None]
"""Takes a message's subject and body."""


class BatchingClient(Client):
    def __init__(self) -> None:
        super().__init__()
        self._direct_sid: int | None = None
        self._direct_handler: AnswerHandler | None = None

    def direct(self, subscription: Subscription, handler: AnswerHandler) -> None:
        """Hand ``handler`` the subscription's messages that carry no headers, instead of its callback;
        what it raises goes to the client's error callback, as a callback's would."""
        self._direct_sid = subscription._id
        self._direct_handler = handler

    async def write(self, frames: bytes) -> None:
        """Queue the frames for the writer and wake it, refusing them as ``publish`` refuses a message:
        on a closed client, and while reconnecting when they do not fit its pending buffer."""
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        limit = self._max_pending_size
        if not self.is_connected and (limit <= 0 or len(frames) + self.pending_data_size > limit):
            raise nats.errors.OutboundBufferLimitError
        await self._send_command(frames)
        await self._flush_pending()

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        handler = self._direct_handler
        if sid == self._direct_sid and not headers and handler is not None:
            try:
                handler(subject, data)
            except Exception as error:  # as nats-py does with a callback's: reading must go on
                await self._error_cb(error)
            return
        await super()._process_msg(sid, subject, reply, data, headers)
