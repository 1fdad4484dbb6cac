"""What the broker answered for each message published on a channel in confirm mode.

The broker numbers a channel's messages 1, 2, 3... in the order it reads them (delivery tags) and
answers each once, with ``basic.ack`` or ``basic.nack``: for one tag, or with ``multiple`` for every
tag up to it not answered yet, in any order. A ``mandatory`` message it cannot route comes back as
``basic.return`` before its ack; the return wins. A return carries no tag, so it is matched by
message id: it marks every unanswered message with that id, which may refuse a copy the broker did
route (it is then sent again), never count a returned one as delivered.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    refused: bool
    """Refused for good: sending the message again would fail again."""
    reason: str
    denied: bool = False
    """The broker denies eventgate the right to publish there (``403 ACCESS_REFUSED``): a refusal of
    eventgate itself, whatever the message."""


DELIVERED = Outcome(delivered=True, refused=False, reason="")
NACKED = Outcome(delivered=False, refused=False, reason="it nacked the message (a queue could not take it)")


class Batch:
    """Messages published together, with consecutive tags from ``first``; ``outcomes[i]`` is ``None``
    until the broker answers for ``ids[i]``, and ``settled`` is set once it answered for all."""

    __slots__ = ("_low", "_unanswered", "first", "ids", "outcomes", "settled")

    def __init__(self, first: int, ids: Sequence[str]) -> None:
        self.first = first
        self.ids = ids
        self.outcomes: list[Outcome | None] = [None] * len(ids)
        self.settled = asyncio.Event()
        self._unanswered = len(ids)
        self._low = 0
        """No message before this index is unanswered."""
        if not ids:
            self.settled.set()

    @property
    def last(self) -> int:
        return self.first + len(self.ids) - 1

    def answer(self, index: int, outcome: Outcome) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self._unanswered -= 1
            if not self._unanswered:
                self.settled.set()

    def answer_through(self, index: int, outcome: Outcome) -> None:
        """Answer every message up to ``index`` (included) that is unanswered."""
        for low in range(self._low, min(index, len(self.ids) - 1) + 1):
            self.answer(low, outcome)
        self._low = max(self._low, index + 1)

    def answer_id(self, message_id: str, outcome: Outcome) -> None:
        for index in range(self._low, len(self.ids)):
            if self.ids[index] == message_id:
                self.answer(index, outcome)


class Confirms:
    """The batches of one channel the broker has not answered for yet, in the order of their tags."""

    def __init__(self) -> None:
        self._next_tag = 1
        self._batches: list[Batch] = []

    def expect(self, ids: Sequence[str]) -> Batch:
        """The batch of the messages about to be written, in this order, before any other."""
        batch = Batch(self._next_tag, ids)
        self._next_tag += len(ids)
        if ids:
            self._batches.append(batch)
        return batch

    def withdraw(self, batch: Batch) -> None:
        """The last batch expected was not written after all: its tags go to the next."""
        if self._batches and self._batches[-1] is batch:
            self._batches.pop()
            self._next_tag = batch.first

    def forget(self, batch: Batch) -> None:
        """Stop following the batch: answers for its tags are ignored from now on."""
        if batch in self._batches:
            self._batches.remove(batch)

    def ack(self, tag: int, *, multiple: bool) -> None:
        self._answer(tag, multiple, DELIVERED)

    def nack(self, tag: int, *, multiple: bool) -> None:
        self._answer(tag, multiple, NACKED)

    def returned(self, message_id: str, outcome: Outcome) -> None:
        for batch in self._batches:
            batch.answer_id(message_id, outcome)
        self._drop_settled()

    def close(self, outcome: Outcome) -> None:
        """The channel is gone: every unanswered message has ``outcome``; nothing is followed any more."""
        for batch in self._batches:
            batch.answer_through(len(batch.ids) - 1, outcome)
        self._batches.clear()

    def _answer(self, tag: int, multiple: bool, outcome: Outcome) -> None:
        for batch in self._batches:
            if batch.first > tag:
                break
            if multiple:
                batch.answer_through(tag - batch.first, outcome)
            elif tag <= batch.last:
                batch.answer(tag - batch.first, outcome)
                break
        self._drop_settled()

    def _drop_settled(self) -> None:
        if any(batch.settled.is_set() for batch in self._batches):
            self._batches = [batch for batch in self._batches if not batch.settled.is_set()]
