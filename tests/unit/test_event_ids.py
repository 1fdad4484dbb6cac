import os
import time
import uuid
import warnings

from hypothesis import given
from hypothesis import strategies as st

from adapters.event_ids import canonical_uuid, new_compact_id, new_event_id
from domain.event_ids import idempotent_event_id

VERSION_7_BITS = (0xF << 76) | (0x3 << 62), (0x7 << 76) | (0x2 << 62)


def test_fresh_event_ids_are_version_7_uuids() -> None:
    parsed = uuid.UUID(new_event_id())

    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_fresh_event_ids_start_with_the_unix_milliseconds_of_their_creation() -> None:
    before = time.time_ns() // 1_000_000
    millis = uuid.UUID(new_event_id()).int >> 80
    after = time.time_ns() // 1_000_000

    assert before <= millis <= after


def test_compact_ids_are_version_7_uuids_as_32_hex_digits() -> None:
    compact = new_compact_id()
    parsed = uuid.UUID(hex=compact)

    assert compact == parsed.hex
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_compact_ids_are_unique() -> None:
    ids = [new_compact_id() for _ in range(2000)]

    assert len(set(ids)) == len(ids)


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_canonical_form_is_the_uuid_modules(value: int) -> None:
    cleared, bits = VERSION_7_BITS
    value = value & ~cleared | bits

    assert canonical_uuid(value) == str(uuid.UUID(int=value))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_canonical_form_of_any_128_bit_value_is_the_uuid_modules(value: int) -> None:
    assert canonical_uuid(value) == str(uuid.UUID(int=value))


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
