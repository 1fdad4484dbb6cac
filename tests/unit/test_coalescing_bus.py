"""The coalescing bus: concurrent publishes share one inner publish, and each caller gets its own outcome."""

import asyncio
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.coalescing import CLOSED_REASON, CoalescingEventBus
from adapters.event_json import encoded_size
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed, SenderRefused
from domain.event import UserEvent, serialized_size

Failure = Callable[[list[str]], BaseException]
T = TypeVar("T")


class RecordingBus:
    """A fake inner bus: records the event ids of each publish and answers as scripted.

    With ``hold`` each call waits until the test releases it, so batches stay in flight on demand.
    ``ends`` records how each call ended: ``returned``, ``raised`` or ``cancelled``.
    """

    def __init__(self, *, hold: bool = False, yields: Sequence[int] = ()) -> None:
        self.calls: list[list[str]] = []
        self.ends: list[str] = []
        self.failures: dict[int, Failure] = {}
        self.hold = hold
        self.yields = list(yields)
        self.gates: list[asyncio.Event] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.readiness: str | None = None
        self.probes = 0

    def fail(self, call: int, failure: Failure) -> None:
        self.failures[call] = failure

    def release(self, call: int) -> None:
        self.gates[call].set()

    async def probe(self) -> str | None:
        self.probes += 1
        return self.readiness

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        ids = [event.id for event in events]
        call = len(self.calls)
        self.calls.append(ids)
        gate = asyncio.Event()
        self.gates.append(gate)
        if not self.hold:
            gate.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await gate.wait()
            for _ in range(self.yields[call] if call < len(self.yields) else 0):
                await asyncio.sleep(0)
            return self._answer(call, ids)
        except asyncio.CancelledError:
            self.ends.append("cancelled")
            raise
        finally:
            self.in_flight -= 1

    def _answer(self, call: int, ids: list[str]) -> list[str]:
        failure = self.failures.get(call)
        if failure is None:
            self.ends.append("returned")
            return ids
        self.ends.append("raised")
        raise failure(ids)


@dataclass
class FakeTimer:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        assert not self.cancelled
        assert not self.fired
        self.fired = True
        self.callback()


@dataclass
class FakeTimers:
    """A ``Schedule`` that records every timer; the test fires them, so no test waits on a clock."""

    armed: list[FakeTimer] = field(default_factory=list)

    def __call__(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.armed.append(timer)
        return timer

    @property
    def live(self) -> list[FakeTimer]:
        return [timer for timer in self.armed if not (timer.cancelled or timer.fired)]

    def fire_live(self) -> None:
        [timer] = self.live
        timer.fire()


def event(event_id: str) -> UserEvent:
    return UserEvent(name="app/clicked", data={"n": event_id}, id=event_id, ts=1_795_000_000_000)


def ids_of(events: Sequence[UserEvent]) -> list[str]:
    return [item.id for item in events]


async def settle() -> None:
    """Let every task run until it waits on something this test controls."""
    for _ in range(20):
        await asyncio.sleep(0)


def start(bus: CoalescingEventBus, *events: UserEvent) -> "asyncio.Task[list[str]]":
    return asyncio.get_running_loop().create_task(bus.publish(list(events)))


async def finish(task: "asyncio.Task[T]") -> T:
    """The task's result; a regression that would hang the test fails it after a few seconds instead."""
    async with asyncio.timeout(5):
        return await task


async def outcome(task: "asyncio.Task[list[str]]") -> list[str] | BaseException:
    try:
        return await finish(task)
    except Exception as error:
        return error


@pytest.mark.anyio
async def test_one_hundred_concurrent_publishes_become_one_inner_publish_and_each_caller_gets_its_own_id() -> (
    None
):
    inner = RecordingBus()
    bus = CoalescingEventBus(inner)
    events = [event(f"e{n:03d}") for n in range(100)]

    results = await asyncio.gather(*(bus.publish([item]) for item in events))

    assert results == [[item.id] for item in events]
    assert inner.calls == [ids_of(events)]


@pytest.mark.anyio
async def test_a_caller_publishing_several_events_gets_its_ids_in_order_from_the_shared_batch() -> None:
    inner = RecordingBus()
    bus = CoalescingEventBus(inner)

    first, second, third = await asyncio.gather(
        bus.publish([event("a1")]),
        bus.publish([event("b1"), event("b2"), event("b3")]),
        bus.publish([event("c1")]),
    )

    assert (first, second, third) == (["a1"], ["b1", "b2", "b3"], ["c1"])
    assert inner.calls == [["a1", "b1", "b2", "b3", "c1"]]


@pytest.mark.anyio
async def test_the_first_publish_arms_one_timer_of_linger_and_nothing_is_sent_before_it_fires() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, linger=0.005, schedule=timers)

    tasks = [start(bus, event(f"e{n}")) for n in range(10)]
    await settle()

    assert [timer.delay for timer in timers.armed] == [0.005]
    assert inner.calls == []
    assert not any(task.done() for task in tasks)

    timers.fire_live()

    assert [await finish(task) for task in tasks] == [[f"e{n}"] for n in range(10)]
    assert inner.calls == [[f"e{n}" for n in range(10)]]


@pytest.mark.anyio
async def test_each_batch_has_its_own_timer_armed_by_its_first_publish() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    first = start(bus, event("a"))
    await settle()
    timers.fire_live()
    await finish(first)
    second = [start(bus, event("b")), start(bus, event("c"))]
    await settle()
    timers.fire_live()

    assert [await finish(task) for task in second] == [["b"], ["c"]]
    assert len(timers.armed) == 2
    assert inner.calls == [["a"], ["b", "c"]]


@pytest.mark.anyio
async def test_the_linger_bounds_how_long_a_lone_publish_waits_on_the_real_loop() -> None:
    inner = RecordingBus()
    bus = CoalescingEventBus(inner, linger=0.02)
    loop = asyncio.get_running_loop()

    began = loop.time()
    await bus.publish([event("alone")])
    waited = loop.time() - began

    assert 0.015 <= waited < 0.5
    assert inner.calls == [["alone"]]


@pytest.mark.anyio
async def test_a_batch_reaching_max_events_goes_at_once_without_waiting_for_the_linger() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, max_events=10, schedule=timers)

    tasks = [start(bus, event(f"e{n:02d}")) for n in range(25)]
    await settle()

    assert inner.calls == [[f"e{n:02d}" for n in range(10)], [f"e{n:02d}" for n in range(10, 20)]]
    assert [await finish(task) for task in tasks[:20]] == [[f"e{n:02d}"] for n in range(20)]
    assert [timer.cancelled for timer in timers.armed] == [True, True, False]

    timers.fire_live()

    assert [await finish(task) for task in tasks[20:]] == [[f"e{n:02d}"] for n in range(20, 25)]
    assert inner.calls[2] == [f"e{n:02d}" for n in range(20, 25)]


@pytest.mark.anyio
async def test_a_publish_that_would_not_fit_sends_the_gathering_batch_first_and_travels_whole() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, max_events=4, schedule=timers)

    first = start(bus, event("a1"), event("a2"), event("a3"))
    await settle()
    second = start(bus, event("b1"), event("b2"))
    await settle()

    assert inner.calls == [["a1", "a2", "a3"]]
    timers.fire_live()
    assert (await finish(first), await finish(second)) == (["a1", "a2", "a3"], ["b1", "b2"])
    assert inner.calls == [["a1", "a2", "a3"], ["b1", "b2"]]


@pytest.mark.anyio
async def test_a_publish_larger_than_max_events_is_one_batch_of_its_own_for_the_inner_bus_to_split() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, max_events=3, schedule=timers)
    events = [event(f"e{n}") for n in range(7)]

    assert await finish(start(bus, *events)) == ids_of(events)
    assert inner.calls == [ids_of(events)]


@pytest.mark.anyio
async def test_max_bytes_sends_the_batch_before_a_publish_would_take_it_past_the_limit() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    # Ten bytes an event: three make a 34-byte JSON array ("[" + 3 * 10 + 2 commas + "]").
    bus = CoalescingEventBus(inner, max_bytes=34, measure=lambda _: 10, schedule=timers)

    tasks = [start(bus, event(f"e{n}")) for n in range(5)]
    await settle()

    assert inner.calls == [["e0", "e1", "e2"]]
    timers.fire_live()
    assert [await finish(task) for task in tasks] == [[f"e{n}"] for n in range(5)]
    assert inner.calls == [["e0", "e1", "e2"], ["e3", "e4"]]


@pytest.mark.anyio
async def test_without_max_bytes_events_are_never_measured() -> None:
    measured: list[str] = []

    def measure(item: UserEvent) -> int:
        measured.append(item.id)
        return 1

    bus = CoalescingEventBus(RecordingBus(), linger=0, measure=measure)

    await bus.publish([event("a")])

    assert measured == []


def test_the_encoded_size_is_the_size_the_domain_measures_events_by() -> None:
    item = UserEvent(name="app/clické", data={"user": {"id": "u-1"}, "payload": [1, "ü", None]}, id="x", ts=5)

    assert encoded_size(item) == serialized_size(item)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", [EventBusUnavailable, EventRejected, PublishFailed])
async def test_a_partial_failure_fails_only_the_callers_whose_events_were_not_all_accepted(
    kind: type[PublishFailed],
) -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    inner.fail(0, lambda ids: kind("bus said no", accepted_ids=ids[:3]))

    tasks = [
        start(bus, event("a")),
        start(bus, event("b1"), event("b2")),
        start(bus, event("c1"), event("c2")),
        start(bus, event("d")),
    ]
    await settle()
    timers.fire_live()
    a, b, c, d = [await outcome(task) for task in tasks]

    assert (a, b) == (["a"], ["b1", "b2"])
    for error in (c, d):
        assert type(error) is kind
        assert isinstance(error, PublishFailed)
        assert (error.reason, error.accepted_ids) == ("bus said no", ())
    assert inner.calls == [["a", "b1", "b2", "c1", "c2", "d"]]


@pytest.mark.anyio
async def test_a_caller_with_some_events_accepted_gets_only_its_own_accepted_ids() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    inner.fail(0, lambda ids: EventRejected("invalid event", accepted_ids=ids[:3]))

    tasks = [start(bus, event("a1"), event("a2")), start(bus, event("b1"), event("b2"), event("b3"))]
    await settle()
    timers.fire_live()
    first, second = [await outcome(task) for task in tasks]

    assert first == ["a1", "a2"]
    assert isinstance(second, EventRejected)
    assert second.accepted_ids == ("b1",)


@pytest.mark.anyio
async def test_unavailable_keeps_its_retry_after_for_every_caller_it_fails() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    inner.fail(0, lambda _: EventBusUnavailable("HTTP 503", 7.5))

    tasks = [start(bus, event("a")), start(bus, event("b"))]
    await settle()
    timers.fire_live()
    errors = [await outcome(task) for task in tasks]

    for error in errors:
        assert isinstance(error, EventBusUnavailable)
        assert (error.reason, error.retry_after, error.accepted_ids) == ("HTTP 503", 7.5, ())
    assert errors[0] is not errors[1]


@pytest.mark.anyio
async def test_a_callers_error_names_the_batch_error_as_its_cause() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    original = EventRejected("event key rejected")
    inner.fail(0, lambda _: original)

    task = start(bus, event("a"))
    await settle()
    timers.fire_live()
    error = await outcome(task)

    assert isinstance(error, EventRejected)
    assert error.__cause__ is original


@pytest.mark.anyio
async def test_an_unexpected_exception_reaches_every_caller_of_the_batch_and_the_next_batch_works() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    boom = RuntimeError("bug in the bus")
    inner.fail(0, lambda _: boom)

    tasks = [start(bus, event(f"e{n}")) for n in range(3)]
    await settle()
    timers.fire_live()

    assert [await outcome(task) for task in tasks] == [boom, boom, boom]

    later = start(bus, event("later"))
    await settle()
    timers.fire_live()

    assert await finish(later) == ["later"]
    assert inner.calls == [["e0", "e1", "e2"], ["later"]]


@pytest.mark.anyio
async def test_a_bus_answering_the_wrong_number_of_ids_fails_every_caller_of_the_batch() -> None:
    class ShortBus(RecordingBus):
        async def publish(self, events: Sequence[UserEvent]) -> list[str]:
            return (await super().publish(events))[:-1]

    bus = CoalescingEventBus(ShortBus(), linger=0)

    results = await asyncio.gather(
        bus.publish([event("a")]), bus.publish([event("b")]), return_exceptions=True
    )

    assert [type(result) for result in results] == [RuntimeError, RuntimeError]
    assert "1 ids for 2 events" in str(results[0])


@pytest.mark.anyio
async def test_a_publish_cancelled_inside_the_bus_frees_its_callers_as_unavailable_and_the_next_batch_works() -> (
    None
):
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    inner.fail(0, lambda _: asyncio.CancelledError())

    tasks = [start(bus, event("a")), start(bus, event("b"))]
    await settle()
    timers.fire_live()
    errors = [await outcome(task) for task in tasks]
    later = start(bus, event("c"))
    await settle()
    timers.fire_live()

    for error in errors:
        assert isinstance(error, EventBusUnavailable)
        assert error.retry_after is None
    assert await finish(later) == ["c"]


@pytest.mark.anyio
async def test_a_caller_cancelled_while_its_batch_is_in_flight_leaves_the_batch_to_the_others() -> None:
    inner, timers = RecordingBus(hold=True), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    tasks = [start(bus, event(f"e{n}")) for n in range(3)]
    await settle()
    timers.fire_live()
    await settle()
    tasks[1].cancel()
    await settle()

    assert tasks[1].cancelled()
    assert inner.in_flight == 1

    inner.release(0)

    assert (await finish(tasks[0]), await finish(tasks[2])) == (["e0"], ["e2"])
    assert inner.ends == ["returned"]


@pytest.mark.anyio
async def test_a_caller_cancelled_while_its_batch_gathers_stops_waiting_but_its_event_is_still_published() -> (
    None
):
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    tasks = [start(bus, event("gone")), start(bus, event("stays"))]
    await settle()
    tasks[0].cancel()
    await settle()
    timers.fire_live()

    assert await finish(tasks[1]) == ["stays"]
    assert tasks[0].cancelled()
    assert inner.calls == [["gone", "stays"]]


@pytest.mark.anyio
async def test_a_failed_batch_whose_callers_all_left_reports_no_unretrieved_exception() -> None:
    inner, timers = RecordingBus(hold=True), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)
    inner.fail(0, lambda _: EventBusUnavailable("down"))
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        tasks = [start(bus, event("a")), start(bus, event("b"))]
        await settle()
        timers.fire_live()
        await settle()
        for task in tasks:
            task.cancel()
        await settle()
        inner.release(0)
        async with asyncio.timeout(5):
            await bus.close()
        del tasks
        gc.collect()
        await settle()
    finally:
        loop.set_exception_handler(previous)

    assert reported == []
    assert inner.ends == ["raised"]


@pytest.mark.anyio
async def test_batches_pipeline_while_one_is_in_flight() -> None:
    inner, timers = RecordingBus(hold=True), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    first = start(bus, event("a"))
    await settle()
    timers.fire_live()
    await settle()
    second = start(bus, event("b"))
    await settle()
    timers.fire_live()
    await settle()

    assert inner.calls == [["a"], ["b"]]
    assert inner.in_flight == 2
    inner.release(1)
    assert await finish(second) == ["b"]
    assert not first.done()
    inner.release(0)
    assert await finish(first) == ["a"]


@pytest.mark.anyio
async def test_no_more_than_max_in_flight_batches_go_at_once_and_the_rest_wait_for_a_slot() -> None:
    inner = RecordingBus(hold=True)
    bus = CoalescingEventBus(inner, max_events=1, max_in_flight=2, schedule=FakeTimers())

    tasks = [start(bus, event(f"e{n}")) for n in range(5)]
    await settle()

    assert inner.calls == [["e0"], ["e1"]]
    for call in range(5):
        inner.release(call)
        await settle()
        assert inner.in_flight <= 2

    assert [await finish(task) for task in tasks] == [[f"e{n}"] for n in range(5)]
    assert inner.calls == [[f"e{n}"] for n in range(5)]
    assert inner.most_in_flight == 2


@pytest.mark.anyio
async def test_a_due_batch_keeps_gathering_while_every_slot_is_taken() -> None:
    inner, timers = RecordingBus(hold=True), FakeTimers()
    bus = CoalescingEventBus(inner, max_in_flight=1, schedule=timers)

    first = start(bus, event("a"))
    await settle()
    timers.fire_live()
    await settle()
    waiting = [start(bus, event("b"))]
    await settle()
    timers.fire_live()
    waiting += [start(bus, event("c")), start(bus, event("d"))]
    await settle()

    assert inner.calls == [["a"]]
    inner.release(0)
    await settle()
    inner.release(1)

    assert await finish(first) == ["a"]
    assert [await finish(task) for task in waiting] == [["b"], ["c"], ["d"]]
    assert inner.calls == [["a"], ["b", "c", "d"]]


@pytest.mark.anyio
async def test_close_sends_the_gathering_batch_waits_for_batches_in_flight_and_refuses_later_publishes() -> (
    None
):
    inner, timers = RecordingBus(hold=True), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    in_flight = start(bus, event("a"))
    await settle()
    timers.fire_live()
    await settle()
    gathering = start(bus, event("b"))
    await settle()
    closing = asyncio.get_running_loop().create_task(bus.close())
    await settle()

    assert inner.calls == [["a"], ["b"]]
    assert not closing.done()
    with pytest.raises(EventBusUnavailable, match=CLOSED_REASON):
        await bus.publish([event("late")])

    inner.release(0)
    inner.release(1)
    await finish(closing)

    assert (await finish(in_flight), await finish(gathering)) == (["a"], ["b"])
    assert inner.calls == [["a"], ["b"]]
    with pytest.raises(EventBusUnavailable) as refused:
        await bus.publish([])
    assert refused.value.retry_after is None


@pytest.mark.anyio
async def test_close_refuses_publishes_waiting_for_room_and_still_sends_every_batch_it_holds() -> None:
    inner = RecordingBus(hold=True)
    bus = CoalescingEventBus(inner, max_events=1, max_in_flight=1, schedule=FakeTimers())

    tasks = [start(bus, event(f"e{n}")) for n in range(3)]
    await settle()
    closing = asyncio.get_running_loop().create_task(bus.close())
    await settle()
    inner.release(0)
    await settle()
    inner.release(1)
    await finish(closing)
    first, second, third = [await outcome(task) for task in tasks]

    assert (first, second) == (["e0"], ["e1"])
    assert isinstance(third, EventBusUnavailable)
    assert inner.calls == [["e0"], ["e1"]]


@pytest.mark.anyio
async def test_closing_an_idle_bus_twice_returns_at_once() -> None:
    inner = RecordingBus()
    bus = CoalescingEventBus(inner)

    await bus.close()
    await bus.close()

    assert inner.calls == []


@pytest.mark.anyio
async def test_the_probe_is_the_inner_bus_probe_until_closed() -> None:
    inner = RecordingBus()
    bus = CoalescingEventBus(inner)

    assert await bus.probe() is None
    inner.readiness = "the Inngest event API is unreachable (ConnectError)"
    assert await bus.probe() == "the Inngest event API is unreachable (ConnectError)"
    await bus.close()
    assert await bus.probe() == CLOSED_REASON
    assert inner.probes == 2


@pytest.mark.anyio
async def test_publishing_nothing_returns_no_ids_and_arms_no_timer() -> None:
    inner, timers = RecordingBus(), FakeTimers()
    bus = CoalescingEventBus(inner, schedule=timers)

    assert await bus.publish([]) == []
    assert timers.armed == []
    assert inner.calls == []


@pytest.mark.parametrize(
    "settings_",
    [
        {"linger": -0.001},
        {"linger": float("nan")},
        {"linger": float("inf")},
        {"max_events": 0},
        {"max_bytes": 0},
        {"max_in_flight": 0},
    ],
)
def test_settings_that_cannot_work_are_refused(settings_: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings_))):
        CoalescingEventBus(RecordingBus(), **settings_)


# The property: any interleaving of publishes, any scripted answers of the inner bus.

KINDS: dict[str, type[PublishFailed]] = {
    "unavailable": EventBusUnavailable,
    "refused": SenderRefused,
    "rejected": EventRejected,
    "failed": PublishFailed,
}


@dataclass(frozen=True)
class Answer:
    """How the inner bus answers one call: ``ok``, a ``PublishFailed`` kind, or ``boom``."""

    kind: str
    accept: tuple[bool, ...] = ()
    yields: int = 0

    def failure(self, call: int) -> Failure | None:
        if self.kind == "ok":
            return None
        if self.kind == "boom":
            error = RuntimeError(f"boom {call}")
            return lambda _: error
        kind = KINDS[self.kind]

        def fail(ids: list[str]) -> Exception:
            accepted = [event_id for event_id, keep in zip(ids, self.accept, strict=False) if keep]
            if kind is EventBusUnavailable:
                return EventBusUnavailable(f"{self.kind} {call}", float(call), accepted_ids=accepted)
            if kind is SenderRefused:
                return SenderRefused(f"{self.kind} {call}", f"cause {call}", accepted_ids=accepted)
            return kind(f"{self.kind} {call}", accepted_ids=accepted)

        return fail


answers = st.builds(
    Answer,
    kind=st.sampled_from(["ok", "ok", "unavailable", "refused", "rejected", "failed", "boom"]),
    accept=st.lists(st.booleans(), max_size=12).map(tuple),
    yields=st.integers(0, 3),
)
publishes = st.lists(st.tuples(st.integers(1, 3), st.integers(0, 6)), min_size=1, max_size=16)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    publishes=publishes,
    script=st.lists(answers, max_size=16),
    max_events=st.integers(1, 6),
    max_in_flight=st.integers(1, 3),
)
def test_every_caller_gets_exactly_its_ids_or_its_share_of_the_error_and_each_event_is_sent_once(
    publishes: list[tuple[int, int]], script: list[Answer], max_events: int, max_in_flight: int
) -> None:
    inner = RecordingBus(yields=[answer.yields for answer in script])
    for call, answer in enumerate(script):
        failure = answer.failure(call)
        if failure is not None:
            inner.fail(call, failure)
    own = [[f"p{caller}-{n}" for n in range(count)] for caller, (count, _) in enumerate(publishes)]

    async def scenario() -> list[list[str] | BaseException]:
        bus = CoalescingEventBus(inner, linger=0, max_events=max_events, max_in_flight=max_in_flight)

        async def caller(index: int, delay: int) -> list[str] | BaseException:
            for _ in range(delay):
                await asyncio.sleep(0)
            try:
                return await bus.publish([event(event_id) for event_id in own[index]])
            except Exception as error:
                return error

        async with asyncio.timeout(0.5):
            results = await asyncio.gather(
                *(caller(index, delay) for index, (_, delay) in enumerate(publishes))
            )
            await bus.close()
        return results

    results = anyio.run(scenario)

    sent = [event_id for call in inner.calls for event_id in call]
    assert sorted(sent) == sorted(event_id for ids in own for event_id in ids)
    assert inner.most_in_flight <= max_in_flight
    call_of = {event_id: index for index, call in enumerate(inner.calls) for event_id in call}
    for ids, result in zip(own, results, strict=True):
        call = call_of[ids[0]]
        batch = inner.calls[call]
        position = batch.index(ids[0])
        assert batch[position : position + len(ids)] == ids, "a publish's events travel together, in order"
        assert len(batch) <= max_events or batch == ids
        check_outcome(ids, result, batch, script[call] if call < len(script) else Answer("ok"), call)


def check_outcome(
    ids: list[str], result: list[str] | BaseException, batch: list[str], answer: Answer, call: int
) -> None:
    if answer.kind == "ok":
        assert result == ids
        return
    if answer.kind == "boom":
        assert isinstance(result, RuntimeError)
        assert str(result) == f"boom {call}"
        return
    accepted = {event_id for event_id, keep in zip(batch, answer.accept, strict=False) if keep}
    if accepted.issuperset(ids):
        assert result == ids
        return
    assert type(result) is KINDS[answer.kind]
    assert isinstance(result, PublishFailed)
    assert result.reason == f"{answer.kind} {call}"
    assert list(result.accepted_ids) == [event_id for event_id in ids if event_id in accepted]
    if isinstance(result, SenderRefused):
        assert result.cause == f"cause {call}"
    elif isinstance(result, EventBusUnavailable):
        assert result.retry_after == float(call)
