import os
import uuid
import warnings

from domain.event_ids import idempotent_event_id, new_event_id


def test_fresh_event_ids_are_version_7_uuids() -> None:
    parsed = uuid.UUID(new_event_id())

    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_fresh_event_ids_are_unique_and_sort_by_creation_time() -> None:
    ids = [new_event_id() for _ in range(2000)]

    assert len(set(ids)) == len(ids)
    assert [event_id[:13] for event_id in ids] == sorted(event_id[:13] for event_id in ids)


def test_a_forked_process_never_repeats_the_ids_its_parent_will_make() -> None:
    new_event_id()  # the parent now holds random bytes it has not used yet
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork() beside threads
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child only
        os.write(write_end, "\n".join(new_event_id()[14:] for _ in range(20)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        childs = set(pipe.read().decode().split("\n"))
    os.waitpid(child, 0)

    parents = {new_event_id()[14:] for _ in range(20)}
    assert len(childs) == 20
    assert not childs & parents


def test_idempotent_ids_depend_on_both_user_and_key() -> None:
    assert idempotent_event_id("u", "k") == idempotent_event_id("u", "k")
    assert idempotent_event_id("u", "k") != idempotent_event_id("u", "k2")
    assert idempotent_event_id("u", "k") != idempotent_event_id("u2", "k")


def test_idempotent_ids_cannot_be_forged_by_moving_characters_between_user_and_key() -> None:
    assert idempotent_event_id("a:b", "c") != idempotent_event_id("a", "b:c")
