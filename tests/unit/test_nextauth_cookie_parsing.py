"""The Cookie header, read as next-auth v4 (``cookie`` 0.7) and Auth.js v5 (``@auth/core``) read it.

``tests/interop/test_cookie_interop.py`` holds the same reading against the libraries themselves.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth import Version
from adapters.nextauth.cookie_parsing import (
    cookie_parser,
    library_cookie_parser,
    parse_cookie_header_v4,
    parse_cookie_header_v5,
)

versions: st.SearchStrategy[Version] = st.sampled_from([4, 5])
SESSION = "next-auth.session-token"


@pytest.mark.parametrize("version", [4, 5])
def test_the_library_keeps_the_first_of_two_session_cookies(version: Version) -> None:
    header = f"{SESSION}=victim; theme=dark; {SESSION}=attacker"

    assert library_cookie_parser(version)(header)[SESSION] == "victim"


@pytest.mark.parametrize("version", [4, 5])
def test_reads_a_session_cookie_sent_with_two_values_as_no_cookie(version: Version) -> None:
    header = f"{SESSION}=victim; theme=dark; {SESSION}=attacker"

    assert cookie_parser(version)(header) == {"theme": "dark"}


@pytest.mark.parametrize("version", [4, 5])
def test_keeps_a_cookie_sent_twice_with_the_same_value(version: Version) -> None:
    header = f"{SESSION}=%76ictim; {SESSION}=victim"

    assert cookie_parser(version)(header) == {SESSION: "victim"}


@pytest.mark.parametrize("version", [4, 5])
def test_drops_each_chunk_sent_with_two_values_and_keeps_the_others(version: Version) -> None:
    header = f"{SESSION}.0=v0; {SESSION}.1=v1; {SESSION}.0=a0; {SESSION}.1=v1; {SESSION}.2=a2"

    assert cookie_parser(version)(header) == {f"{SESSION}.1": "v1", f"{SESSION}.2": "a2"}
    assert library_cookie_parser(version)(header) == {
        f"{SESSION}.0": "v0",
        f"{SESSION}.1": "v1",
        f"{SESSION}.2": "a2",
    }


def test_reads_a_header_as_a_browser_sends_it() -> None:
    header = 'theme=dark;  _ga=GA1.2.3 ;\tcsrf=abc%7Cdef; flag; empty=; quoted="x"; eq=a=b; =nameless'
    expected = {
        "theme": "dark",
        "_ga": "GA1.2.3",
        "csrf": "abc|def",
        "empty": "",
        "eq": "a=b",
        "": "nameless",
    }

    assert parse_cookie_header_v4(header) == {**expected, "quoted": "x"}
    assert parse_cookie_header_v5(header) == {**expected, "quoted": '"x"'}


@pytest.mark.parametrize("value", ["100%", "%zz", "%E0%A4%A", "%ff", "%C0%AF", "%ED%A0%80"])
@pytest.mark.parametrize("version", [4, 5])
def test_keeps_a_value_whose_percent_escapes_do_not_decode(version: Version, value: str) -> None:
    assert cookie_parser(version)(f"a={value}") == {"a": value}


@pytest.mark.parametrize("version", [4, 5])
def test_trims_spaces_and_tabs_and_nothing_else(version: Version) -> None:
    header = " \ta b = c d \t;\x0bv=\x0bw\x0b"

    assert cookie_parser(version)(header) == {"a b": "c d", "\x0bv": "\x0bw\x0b"}


@pytest.mark.parametrize("header", ["", "a", "=", ";"])
@pytest.mark.parametrize("version", [4, 5])
def test_a_header_of_fewer_than_two_characters_holds_no_cookie(version: Version, header: str) -> None:
    assert cookie_parser(version)(header) == {}


def test_next_auth_v4_never_keeps_a_cookie_named_proto_and_auth_core_does() -> None:
    header = "__proto__=x; constructor=y"

    assert parse_cookie_header_v4(header) == {"constructor": "y"}
    assert parse_cookie_header_v5(header) == {"__proto__": "x", "constructor": "y"}


def test_only_next_auth_v4_removes_quotes_and_a_lone_quote_is_then_empty() -> None:
    assert parse_cookie_header_v4('a="; b=""; c="%41"') == {"a": "", "b": "", "c": "A"}
    assert parse_cookie_header_v5('a="; b=""; c="%41"') == {"a": '"', "b": '""', "c": '"A"'}


names = st.text(st.sampled_from("abAB.-_0"), min_size=1, max_size=4)
values = st.text(st.sampled_from("xyz09-._~"), max_size=6)


@given(pairs=st.lists(st.tuples(names, values), max_size=8), version=versions)
def test_any_header_of_plain_cookies_reads_as_its_names_sent_with_one_value(
    pairs: list[tuple[str, str]], version: Version
) -> None:
    first: dict[str, str] = {}
    values_of: dict[str, set[str]] = {}
    for name, value in pairs:
        first.setdefault(name, value)
        values_of.setdefault(name, set()).add(value)
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    unambiguous = {name: value for name, value in first.items() if len(values_of[name]) == 1}

    assert library_cookie_parser(version)(header) == (first if len(header) >= 2 else {})
    assert cookie_parser(version)(header) == (unambiguous if len(header) >= 2 else {})
