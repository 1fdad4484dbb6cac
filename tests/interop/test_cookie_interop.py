"""eventgate reads a Cookie header as the app's library reads it, checked against the libraries.

The same raw headers go to the parser next-auth v4 uses (the npm ``cookie`` package it depends on)
and the one ``@auth/core`` uses (its own copy of ``cookie``), and to eventgate's reading of the
library's parser. Then a victim's session is sent beside an attacker's, as a cookie planted from a
sibling subdomain would be: eventgate must find the user the library's ``getToken`` finds, or nobody
when the header holds a session cookie (or chunk) with two values, which apps read differently.
"""

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.nextauth import NextAuthSession, Version, claims_for_user, cookie_parser, mint_session_cookie
from adapters.nextauth.cookie_parsing import library_cookie_parser
from application.ports import SessionCredentials
from domain.event import JsonValue
from domain.user import User
from tests.interop.nodejs import NodeLibrary

SECRET = "interop secret for cookie headers"
NAMES: dict[Version, str] = {4: "next-auth.session-token", 5: "authjs.session-token"}
GROUPS = [f"group-{index:04d}" for index in range(600)]


@pytest.fixture
def libraries(next_auth_v4: NodeLibrary, auth_core_v5: NodeLibrary) -> dict[Version, NodeLibrary]:
    return {4: next_auth_v4, 5: auth_core_v5}


def headers_for(name: str) -> list[str]:
    """Raw headers around the session cookie ``name``: every way the parsers could part."""
    return [
        f"{name}=victim; {name}=attacker",
        f"{name}.0=v0; {name}.1=v1; {name}.0=a0; {name}.1=a1; {name}.2=a2",
        f"__Secure-{name}=secure; {name}=plain; __Secure-{name}=again",
        f'{name}="quoted"; a=""; b="; c="x; d=x"; e=" spaced "',
        "a=%41%42; b=%C3%A9; c=%E9; d=%zz; e=%; f=100%; g=%ED%A0%80; h=%C0%AF; i=%F0%9F%8E%89; j=%2",
        " \ta = 1 \t; b\t=\t2;c=3 ;  d  =  4  ",
        "a b=c d; e\x0b=\x0bf; g=h\x0c",
        ";;a=1;;b=2; ;c; =d; =; e=",
        "=",
        "a",
        "",
        "  ",
        "a=1;",
        ";a=1",
        "a=b=c; d==e; ==f",
        "__proto__=x; constructor=y; hasOwnProperty=z; toString=w; __proto__=again",
        "é=è; ÿ=\xa0; a=\x7f\x80",
        f"{name}=%65yJ; theme=dark",
        "a=1, b=2; c=3",
    ]


header_pieces = st.one_of(
    st.sampled_from(
        [";", "; ", "=", " ", "\t", '"', "%", "%41", "%e9", "%C3%A9", "%zz", "%ED%A0%80", "__proto__", ","]
    ),
    st.sampled_from(["next-auth.session-token", "authjs.session-token", ".0", ".1", "__Secure-"]),
    st.text(st.characters(max_codepoint=0xFF), max_size=3),
)
cookie_headers = st.lists(header_pieces, max_size=14).map("".join)


def ours(version: Version, headers: list[str]) -> list[dict[str, str]]:
    return [dict(library_cookie_parser(version)(header)) for header in headers]


def theirs(library: NodeLibrary, headers: list[str]) -> list[dict[str, str]]:
    [result] = library.run([{"op": "parseCookies", "headers": headers}])
    cookies: list[dict[str, str]] = result["cookies"]
    return cookies


def differences(headers: list[str], mine: list[dict[str, str]], library: list[dict[str, str]]) -> list[Any]:
    return [(header, a, b) for header, a, b in zip(headers, mine, library, strict=True) if a != b]


@pytest.mark.parametrize("version", [4, 5])
def test_reads_every_raw_header_as_the_library_s_cookie_parser_does(
    version: Version, libraries: dict[Version, NodeLibrary]
) -> None:
    headers = headers_for(NAMES[version])

    assert differences(headers, ours(version, headers), theirs(libraries[version], headers)) == []


@pytest.mark.parametrize("version", [4, 5])
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(headers=st.lists(cookie_headers, min_size=250, max_size=250))
def test_reads_any_header_as_the_library_s_cookie_parser_does(
    version: Version, headers: list[str], next_auth_v4: NodeLibrary, auth_core_v5: NodeLibrary
) -> None:
    library = next_auth_v4 if version == 4 else auth_core_v5

    assert differences(headers, ours(version, headers), theirs(library, headers)) == []


def session(user_id: str, version: Version, name: str, groups: list[str] | None = None) -> str:
    """The Cookie header of ``user_id``'s session, chunked when ``groups`` make it large."""
    claims: dict[str, JsonValue] = {**claims_for_user(User(id=user_id, name=user_id.title()))}
    if groups:
        claims["groups"] = [*groups]
    return mint_session_cookie(SECRET, version, claims, cookie_name=name)


def pairs(header: str) -> list[str]:
    return header.split("; ")


def planted_headers(version: Version) -> dict[str, tuple[str, bool, bool]]:
    """Each case's Cookie header, whether the app is served over https (``secureCookie``), and whether
    a session cookie or chunk in it has two values (then eventgate finds nobody)."""
    name = NAMES[version]
    victim, attacker = session("victim", version, name), session("attacker", version, name)
    big_victim, big_attacker = (session(user, version, name, GROUPS) for user in ("victim", "attacker"))
    secure_victim = session("victim", version, f"__Secure-{name}")
    quoted = victim.replace("=", '="', 1) + '"'
    escaped = victim.replace("=e", "=%65", 1)
    victim_chunks, attacker_chunks = pairs(big_victim), pairs(big_attacker)
    interleaved = [chunk for both in zip(victim_chunks, attacker_chunks, strict=True) for chunk in both]
    one_more = f"{name}.{len(victim_chunks)}=AAAA"
    return {
        "the victim's cookie first": (f"{victim}; {attacker}", False, True),
        "the attacker's cookie first": (f"{attacker}; {victim}", False, True),
        "the victim's cookie twice": (f"{victim}; {victim}", False, False),
        "the victim's chunks first": (f"{big_victim}; {big_attacker}", False, True),
        "chunks interleaved, the victim's first": ("; ".join(interleaved), False, True),
        "chunks interleaved, the attacker's first": (
            "; ".join(interleaved[1:] + interleaved[:1]),
            False,
            True,
        ),
        "an attacker's chunk beside the victim's whole cookie": (
            f"{victim}; {attacker_chunks[0]}",
            False,
            False,
        ),
        "an attacker's chunk after the victim's last": (f"{big_victim}; {one_more}", False, False),
        "a plain cookie after the secure one, on https": (f"{secure_victim}; {attacker}", True, False),
        "a plain cookie before the secure one, on https": (f"{attacker}; {secure_victim}", True, False),
        "the victim's token in quotes": (f"{quoted}; {attacker}", False, True),
        "the victim's token percent-encoded": (f"{escaped}; {attacker}", False, True),
    }


def eventgate_user(version: Version, header: str) -> str | None:
    """The user eventgate's session adapter finds, given the cookies as the HTTP layer reads them."""
    adapter = NextAuthSession([SECRET], version)
    credentials = SessionCredentials(cookies=cookie_parser(version)(header))
    user = asyncio.run(adapter.current_user(credentials))
    return None if user is None else user.id


@pytest.mark.parametrize("version", [4, 5])
def test_finds_the_user_the_library_finds_or_nobody_when_an_attacker_s_session_is_sent_beside_the_victim_s(
    version: Version, libraries: dict[Version, NodeLibrary]
) -> None:
    cases = planted_headers(version)
    requests = [
        {"op": "getToken", "cookieHeader": header, "secret": SECRET, "secureCookie": https}
        for header, https, _ in cases.values()
    ]
    readings = libraries[version].run(requests)
    library_users = {
        case: None if reading["claims"] is None else reading["claims"]["sub"]
        for case, reading in zip(cases, readings, strict=True)
    }

    expected = {case: None if twice else library_users[case] for case, (_, _, twice) in cases.items()}

    assert {case: eventgate_user(version, header) for case, (header, _, _) in cases.items()} == expected
    assert library_users["the victim's cookie first"] == "victim"
    assert library_users["the victim's cookie twice"] == "victim"
    assert library_users["the victim's chunks first"] == "victim"
    assert library_users["chunks interleaved, the victim's first"] == "victim"
    assert library_users["a plain cookie before the secure one, on https"] == "victim"
