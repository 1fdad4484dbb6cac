"""next-auth v4 and the adapter read each other's session cookies: checked against next-auth itself."""

import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.interop.expectations import CHANGES, cookie_header, tampered
from tests.interop.nodejs import NodeLibrary
from tests.interop.suite import (
    CUSTOM,
    LARGE,
    OTHER_SECRET,
    PROFILE,
    RETIRED_SECRET,
    UNICODE,
    NextAuthApp,
    OurCase,
    as_library_chunks,
    chunked,
)

SECRET = "interop secret for next-auth v4"
PLAIN = "next-auth.session-token"
CSRF_COOKIE = "next-auth.csrf-token"
SECURE = "__Secure-next-auth.session-token"

APP = NextAuthApp(version=4, secret=SECRET, session_cookie=PLAIN, csrf_cookie=CSRF_COOKIE)


@dataclass(frozen=True)
class LibraryCase:
    """A token next-auth encodes with ``secret``; we read it with ``read_with`` as next-auth's
    ``decode`` reads it with ``library_secret`` (next-auth v4 takes a single secret)."""

    claims: dict[str, Any]
    secret: str = SECRET
    max_age: int = 3600
    compressed: bool = False
    cookie_name: str = PLAIN
    read_with: tuple[str, ...] = (SECRET,)
    library_secret: str = SECRET


LIBRARY_CASES = {
    "a profile": LibraryCase(PROFILE),
    "unicode names": LibraryCase(UNICODE),
    "custom claims": LibraryCase(CUSTOM),
    "no subject": LibraryCase({"name": "Nobody"}),
    "the secure cookie name": LibraryCase(PROFILE, cookie_name=SECURE),
    "a token split into chunks": LibraryCase(LARGE),
    "an expired token": LibraryCase(PROFILE, max_age=-3600),
    "a token expired within the clock tolerance": LibraryCase(PROFILE, max_age=-5),
    "another secret": LibraryCase(PROFILE, secret=OTHER_SECRET),
    "a retired secret still configured": LibraryCase(
        PROFILE, secret=RETIRED_SECRET, read_with=(SECRET, RETIRED_SECRET), library_secret=RETIRED_SECRET
    ),
    "a compressed token": LibraryCase(PROFILE, compressed=True),
}


@pytest.fixture(scope="module")
def library_tokens(next_auth_v4: NodeLibrary) -> dict[str, str]:
    requests = [
        {
            "op": "encodeCompressed" if case.compressed else "encode",
            "claims": case.claims,
            "secret": case.secret,
            "maxAge": case.max_age,
        }
        for case in LIBRARY_CASES.values()
    ]
    return {
        name: result["token"] for name, result in zip(LIBRARY_CASES, next_auth_v4.run(requests), strict=True)
    }


@pytest.fixture(scope="module")
def tampered_tokens(library_tokens: dict[str, str]) -> dict[str, str]:
    return tampered(library_tokens["a profile"])


@pytest.fixture(scope="module")
def library_verdicts(
    next_auth_v4: NodeLibrary, library_tokens: dict[str, str], tampered_tokens: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """next-auth's ``decode`` of its tokens and of the tampered ones, and how it chunks the large one."""
    tokens = {
        **{name: (library_tokens[name], case.library_secret) for name, case in LIBRARY_CASES.items()},
        **{change: (token, SECRET) for change, token in tampered_tokens.items()},
    }
    decodes = {
        name: {"op": "decode", "token": token, "secret": secret} for name, (token, secret) in tokens.items()
    }
    return APP.library_verdicts(next_auth_v4, decodes, library_tokens)


@pytest.mark.parametrize("name", LIBRARY_CASES)
def test_decodes_next_auth_tokens_to_the_claims_next_auth_decodes(
    name: str, library_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    APP.assert_reads_library_token(name, LIBRARY_CASES[name], library_tokens, library_verdicts)


@pytest.mark.parametrize("change", CHANGES)
def test_rejects_changed_tokens_as_next_auth_does(
    change: str, tampered_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    APP.assert_refuses_changed_token(tampered_tokens[change], library_verdicts[change])


OUR_CASES = {
    "a profile": OurCase(PROFILE),
    "unicode names": OurCase(UNICODE),
    "custom claims": OurCase(CUSTOM),
    "the secure cookie name": OurCase(PROFILE, cookie_name=SECURE, secure_cookie=True),
    "a token split into chunks": OurCase(LARGE),
    "a bearer token": OurCase(PROFILE, sent_as="bearer"),
    "a browser's cookie header": OurCase(PROFILE, sent_as="browser header"),
    "an expired token": OurCase(PROFILE, issued_at=time.time() - 31 * 24 * 3600, refused=True),
    "another secret": OurCase(PROFILE, secret=OTHER_SECRET, refused=True),
}


@pytest.fixture(scope="module")
def our_cookies() -> dict[str, str]:
    return APP.mint(OUR_CASES)


@pytest.fixture(scope="module")
def library_readings(next_auth_v4: NodeLibrary, our_cookies: dict[str, str]) -> dict[str, dict[str, Any]]:
    """next-auth's ``getToken`` of each of our cookies, and how next-auth would chunk the large tokens."""
    return APP.library_readings(next_auth_v4, OUR_CASES, our_cookies)


@pytest.mark.parametrize("name", OUR_CASES)
def test_next_auth_reads_our_cookies_as_we_do(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    APP.assert_library_reads_as_we_do(OUR_CASES[name], our_cookies[name], library_readings[name])


@pytest.mark.parametrize("name", chunked(OUR_CASES))
def test_chunks_a_large_token_exactly_as_next_auth_does(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    assert our_cookies[name] == cookie_header(library_readings[as_library_chunks(name)]["cookies"])
