"""Following RabbitMQ's answers to published messages by delivery tag: acks and nacks for one tag or
many, in any order, and returns, which win over the ack that follows them."""

from dataclasses import dataclass
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from adapters.rabbitmq_bus.confirms import DELIVERED, NACKED, Batch, Confirms, Outcome

UNROUTABLE = Outcome(delivered=False, refused=True, reason="unroutable")
LOST = Outcome(delivered=False, refused=False, reason="the connection closed")


@dataclass(frozen=True)
class Answer:
    kind: Literal["ack", "nack", "return"]
    tag: int
    multiple: bool = False


@dataclass(frozen=True)
class Script:
    """Batches of these sizes, published in order, and what a broker answers for their tags."""

    sizes: list[int]
    answers: list[Answer]
    expected: dict[int, Outcome]


def message_id(tag: int) -> str:
    return f"event-{tag}"


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    """Every tag is answered once: by an ack or a nack of its own or of ``multiple`` tags up to a later
    one, in any order, each returned tag first coming back as a return."""
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=6))
    unanswered = list(range(1, sum(sizes) + 1))
    returned = draw(st.sets(st.sampled_from(unanswered)))
    answers: list[Answer] = []
    expected: dict[int, Outcome] = {}
    while unanswered:
        tag = draw(st.sampled_from(unanswered))
        multiple = draw(st.booleans())
        kind: Literal["ack", "nack"] = draw(st.sampled_from(["ack", "nack"]))
        covered = [other for other in unanswered if other <= tag] if multiple else [tag]
        for other in covered:
            if other in returned:
                answers.append(Answer("return", other))
            expected[other] = UNROUTABLE if other in returned else DELIVERED if kind == "ack" else NACKED
        answers.append(Answer(kind, tag, multiple))
        unanswered = [other for other in unanswered if other not in covered]
    return Script(sizes, answers, expected)


def publish(confirms: Confirms, sizes: list[int]) -> list[Batch]:
    batches, tag = [], 1
    for size in sizes:
        batches.append(confirms.expect([message_id(tag + n) for n in range(size)]))
        tag += size
    return batches


def tell(confirms: Confirms, answer: Answer) -> None:
    if answer.kind == "return":
        confirms.returned(message_id(answer.tag), UNROUTABLE)
    elif answer.kind == "ack":
        confirms.ack(answer.tag, multiple=answer.multiple)
    else:
        confirms.nack(answer.tag, multiple=answer.multiple)


def tags_of(batch: Batch) -> range:
    return range(batch.first, batch.last + 1)


@given(scripts())
def test_each_message_gets_the_answer_the_broker_gave_it(script: Script) -> None:
    confirms = Confirms()
    batches = publish(confirms, script.sizes)

    for answer in script.answers:
        tell(confirms, answer)

    assert [outcome for batch in batches for outcome in batch.outcomes] == [
        script.expected[tag] for tag in sorted(script.expected)
    ]


@given(scripts())
def test_a_batch_is_settled_once_every_message_in_it_is_answered_and_not_before(script: Script) -> None:
    confirms = Confirms()
    batches = publish(confirms, script.sizes)
    answered: set[int] = set()

    for answer in script.answers:
        tell(confirms, answer)
        if answer.kind == "return":
            answered.add(answer.tag)
        elif answer.multiple:
            answered.update(range(1, answer.tag + 1))
        else:
            answered.add(answer.tag)

        for batch in batches:
            assert batch.settled.is_set() == answered.issuperset(tags_of(batch))


def test_a_return_wins_over_the_ack_that_follows_it() -> None:
    confirms = Confirms()
    [batch] = publish(confirms, [3])

    confirms.returned(message_id(2), UNROUTABLE)
    confirms.ack(3, multiple=True)

    assert batch.outcomes == [DELIVERED, UNROUTABLE, DELIVERED]


def test_a_return_refuses_every_unanswered_copy_of_its_message_and_no_answered_one() -> None:
    confirms = Confirms()
    first = confirms.expect(["same", "other"])
    second = confirms.expect(["same"])
    confirms.ack(1, multiple=False)

    confirms.returned("same", UNROUTABLE)
    confirms.ack(3, multiple=True)

    assert first.outcomes == [DELIVERED, DELIVERED]
    assert second.outcomes == [UNROUTABLE]


def test_answers_for_a_forgotten_batch_are_ignored() -> None:
    confirms = Confirms()
    forgotten, followed = publish(confirms, [2, 2])

    confirms.forget(forgotten)
    confirms.nack(4, multiple=True)

    assert forgotten.outcomes == [None, None]
    assert followed.outcomes == [NACKED, NACKED]
    assert followed.settled.is_set()


def test_a_withdrawn_batch_leaves_its_tags_to_the_next() -> None:
    confirms = Confirms()
    withdrawn = confirms.expect(["a", "b"])

    confirms.withdraw(withdrawn)
    written = confirms.expect(["c"])
    confirms.ack(1, multiple=False)

    assert written.first == 1
    assert written.outcomes == [DELIVERED]
    assert withdrawn.outcomes == [None, None]


def test_closing_gives_every_unanswered_message_its_outcome_and_keeps_the_answers() -> None:
    confirms = Confirms()
    first, second = publish(confirms, [2, 1])
    confirms.ack(1, multiple=False)

    confirms.close(LOST)
    confirms.ack(3, multiple=True)

    assert first.outcomes == [DELIVERED, LOST]
    assert second.outcomes == [LOST]
    assert first.settled.is_set()
    assert second.settled.is_set()


def test_answers_for_tags_never_published_change_nothing() -> None:
    confirms = Confirms()
    [batch] = publish(confirms, [2])

    confirms.ack(7, multiple=False)
    confirms.nack(0, multiple=True)

    assert batch.outcomes == [None, None]
    assert not batch.settled.is_set()
