"""The session cookie: names, chunks, and JavaScript's decodeURIComponent."""

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth.cookie_parsing import decode_uri_component
from adapters.nextauth.cookies import (
    chunk_cookies,
    cookie_header,
    join_chunks,
    session_cookie_names,
)
from adapters.nextauth.errors import MalformedToken
from adapters.nextauth.keys import Version

NAME = "authjs.session-token"
versions: st.SearchStrategy[Version] = st.sampled_from([4, 5])


@pytest.mark.parametrize(("text", "expected"), [("a%2Eb", "a.b"), ("%C3%A9", "é"), ("plain", "plain")])
def test_decodes_uri_components_as_javascript_does(text: str, expected: str) -> None:
    assert decode_uri_component(text) == expected


@pytest.mark.parametrize("text", ["%", "%2", "%G0", "%ff", "%ED%A0%80"])
def test_refuses_uri_components_javascript_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_uri_component(text)


@pytest.mark.parametrize(
    ("cookie_name", "secure", "expected"),
    [
        (None, None, ("__Secure-authjs.session-token", "authjs.session-token")),
        (None, True, ("__Secure-authjs.session-token",)),
        (None, False, ("authjs.session-token",)),
        ("custom", None, ("custom",)),
        ("custom", True, ("custom",)),
    ],
)
def test_looks_for_the_configured_cookie_names(
    cookie_name: str | None, secure: bool | None, expected: tuple[str, ...]
) -> None:
    assert session_cookie_names(5, cookie_name, secure) == expected


def test_joins_chunks_in_numeric_order_so_10_comes_after_2() -> None:
    cookies = {f"{NAME}.{index}": f"<{index}>" for index in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)}
    assert join_chunks(cookies, NAME) == "".join(f"<{index}>" for index in range(11))


@given(
    token=st.text(st.sampled_from("abc.-_"), min_size=1, max_size=12_000),
    version=versions,
    shuffler=st.randoms(),
)
def test_joins_the_chunks_it_splits_whatever_order_they_arrive_in(
    token: str, version: Version, shuffler: Random
) -> None:
    chunks = chunk_cookies(NAME, token, version)
    shuffler.shuffle(chunks)
    assert join_chunks(dict(chunks), NAME) == token


@pytest.mark.parametrize(("version", "size"), [(4, 4096 - 163), (5, 4096 - 160)])
def test_splits_a_token_into_chunks_of_the_library_s_size(version: Version, size: int) -> None:
    assert chunk_cookies(NAME, "x" * size, version) == [(NAME, "x" * size)]
    assert chunk_cookies(NAME, "x" * (size + 1), version) == [(f"{NAME}.0", "x" * size), (f"{NAME}.1", "x")]


@pytest.mark.parametrize(
    "cookies",
    [
        {NAME: "whole", f"{NAME}.0": "chunk", f"{NAME}.1": "chunk"},
        {f"{NAME}.0": "chunk", f"{NAME}.x": "odd"},
        {f"{NAME}.0": "chunk", f"{NAME}-legacy": "odd"},
        {f"{NAME}.0": "chunk", f"{NAME}.-1": "odd"},
    ],
    ids=["whole and chunked", "no number", "no dot", "a sign"],
)
def test_refuses_cookies_the_library_would_join_into_garbage(cookies: dict[str, str]) -> None:
    with pytest.raises(MalformedToken):
        join_chunks(cookies, NAME)


def test_ignores_empty_cookies_as_auth_core_does() -> None:
    assert join_chunks({NAME: "", f"{NAME}.0": "a", f"{NAME}.1": "b"}, NAME) == "ab"


def test_takes_a_single_cookie_whatever_follows_the_name_as_the_library_does() -> None:
    assert join_chunks({f"{NAME}.0": "token", "other": "x"}, NAME) == "token"
    assert join_chunks({"other": "x"}, NAME) == ""


def test_writes_cookies_back_as_a_cookie_header() -> None:
    assert cookie_header([("a", "1"), ("b", "2")]) == "a=1; b=2"


def _joined_by_the_book(cookies: dict[str, str], name: str) -> str | None:
    """NextAuth's ``SessionStore`` joining, spelled out: ``None`` where it is refused as malformed."""
    parts = {cookie: value for cookie, value in cookies.items() if value and cookie.startswith(name)}
    if len(parts) <= 1:
        return next(iter(parts.values()), "")
    suffixes = [cookie[len(name) :] for cookie in parts]
    if not all(suffix[:1] == "." and suffix[1:].isascii() and suffix[1:].isdigit() for suffix in suffixes):
        return None
    return "".join(parts[name + suffix] for suffix in sorted(suffixes, key=lambda suffix: int(suffix[1:])))


@given(
    cookies=st.dictionaries(
        st.sampled_from(
            [NAME, f"{NAME}.0", f"{NAME}.1", f"{NAME}.10", f"{NAME}.x", f"{NAME}-x", "theme", "a"]
        ),
        st.sampled_from(["", "v", "w", "xyz"]),
        max_size=6,
    )
)
def test_joins_any_cookies_as_the_library_does(cookies: dict[str, str]) -> None:
    expected = _joined_by_the_book(cookies, NAME)
    if expected is None:
        with pytest.raises(MalformedToken):
            join_chunks(cookies, NAME)
    else:
        assert join_chunks(cookies, NAME) == expected
