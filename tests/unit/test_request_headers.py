"""The request headers POST /api reads, from one pass over the raw ASGI headers: as Litestar reads them."""

from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st
from litestar.datastructures import Headers
from litestar.types import Scope

from entrypoints.http.request_guards import RequestHeaders, read_request_headers, request_headers

READ = ["cookie", "origin", "sec-fetch-site", "content-type", "host", "authorization", "idempotency-key"]
READ += ["content-length", "transfer-encoding"]


def spellings(name: str) -> st.SearchStrategy[bytes]:
    """``name`` in any mix of cases."""
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(name, upper, strict=True)).encode()
    )


header_names = st.one_of(
    st.sampled_from(READ).flatmap(spellings),
    st.sampled_from(["user-agent", "accept", "x-request-id", "cookies", "hostname"]).map(str.encode),
    st.binary(max_size=12),
)
raw_headers = st.lists(st.tuples(header_names, st.binary(max_size=40)), max_size=12)
cookie_values = st.lists(
    st.sampled_from(["a=1", " b = 2 ", 'c="x y"', "d=%20%41", "=e", "f", "", "a=3", "g==h", "  ", '"q"=r']),
    max_size=6,
).map(lambda parts: ";".join(parts).encode("latin-1"))


def http_scope(raw: list[tuple[bytes, bytes]]) -> Scope:
    return cast(Scope, {"type": "http", "method": "POST", "path": "/api", "headers": raw, "state": {}})


def field(headers: RequestHeaders, name: str) -> Any:
    return getattr(headers, name.replace("-", "_"))


def test_the_fields_are_the_headers_read() -> None:
    assert [name.replace("_", "-") for name in RequestHeaders._fields] == READ


@given(raw_headers)
def test_each_header_is_what_litestars_headers_get_gives(raw: list[tuple[bytes, bytes]]) -> None:
    read = read_request_headers(raw)
    litestar = Headers(raw)

    for name in READ:
        assert field(read, name) == litestar.get(name), name


def test_the_headers_are_read_once_per_request() -> None:
    scope = http_scope([(b"host", b"example.com")])
    first = request_headers(scope)
    scope["headers"] = [(b"host", b"elsewhere.example")]

    assert request_headers(scope) is first
    assert first.host == "example.com"


def test_values_are_decoded_as_latin_1() -> None:
    assert read_request_headers([(b"Idempotency-Key", "clé".encode("latin-1"))]).idempotency_key == "clé"
