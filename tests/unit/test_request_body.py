import msgspec
import pytest

from entrypoints.request_body import MAX_JSON_DEPTH, MalformedRequest, decode_record_event_request, json_depth


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}"])
def test_an_empty_body_or_object_asks_for_the_default_event_without_data(body: bytes) -> None:
    request = decode_record_event_request(body)

    assert request.name is msgspec.UNSET
    assert request.data is msgspec.UNSET


def test_an_explicit_null_data_is_kept_apart_from_no_data() -> None:
    assert decode_record_event_request(b'{"data": null}').data is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{bad", "not valid JSON"),
        (b'{"data": 1', "not valid JSON"),
        (b'"\\ud800"', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"name": "\xff"}', "not valid UTF-8"),
        (b'{"data": ["\xc3"]}', "not valid UTF-8"),
        (b"[]", "does not match the schema"),
        (b'{"user": {"id": "admin"}}', "unknown field `user`"),
        (b'{"name": 3}', "`$.name`"),
        (b'{"name": null}', "`$.name`"),
        (b"[" * 5000 + b"]" * 5000, "does not match the schema"),
        (b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}", "deeper than"),
        (b'{"data":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}", "deeper than"),
    ],
)
def test_rejects_a_bad_body_saying_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(MalformedRequest) as raised:
        decode_record_event_request(body)

    assert says in str(raised.value)


def test_accepts_data_nested_exactly_to_the_limit() -> None:
    body = b'{"data":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"

    assert json_depth(decode_record_event_request(body).data) == MAX_JSON_DEPTH


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = "[{" * MAX_JSON_DEPTH

    assert decode_record_event_request(b'{"data": ["' + text.encode() + b'"]}').data == [text]


@pytest.mark.parametrize(
    ("value", "depth"), [(1, 0), ([], 1), ({}, 1), ([[1]], 2), ({"a": [{"b": {}}]}, 4), ([1, [2, [3]]], 3)]
)
def test_measures_json_nesting_depth(value: object, depth: int) -> None:
    assert json_depth(value) == depth
