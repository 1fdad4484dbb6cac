"""Auth.js v5 (@auth/core) and the adapter read each other's session cookies: checked against @auth/core."""

import time
from dataclasses import dataclass
from typing import Any, Literal

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

SECRET = "interop secret for auth.js v5"
PLAIN = "authjs.session-token"
CSRF_COOKIE = "authjs.csrf-token"
SECURE = "__Secure-authjs.session-token"

APP = NextAuthApp(version=5, secret=SECRET, session_cookie=PLAIN, csrf_cookie=CSRF_COOKIE)


@dataclass(frozen=True)
class LibraryCase:
    """A token @auth/core encodes with ``secret`` and ``salt``, sent as cookie ``cookie_name``; we read
    it with ``read_with`` as @auth/core's ``decode`` reads it with the same secrets (it takes a list,
    as we do), salted with the cookie's name as ``getToken`` salts it."""

    claims: dict[str, Any]
    op: Literal["encode", "encodeA256GCM", "encodeCompressed"] = "encode"
    secret: str | list[str] = SECRET
    salt: str = PLAIN
    max_age: int = 3600
    cookie_name: str = PLAIN
    read_with: tuple[str, ...] = (SECRET,)


LIBRARY_CASES = {
    "a profile": LibraryCase(PROFILE),
    "unicode names": LibraryCase(UNICODE),
    "custom claims": LibraryCase(CUSTOM),
    "no subject": LibraryCase({"name": "Nobody"}),
    "the secure cookie name": LibraryCase(PROFILE, salt=SECURE, cookie_name=SECURE),
    "a token salted for the other cookie name": LibraryCase(PROFILE, salt=PLAIN, cookie_name=SECURE),
    "a token split into chunks": LibraryCase(LARGE),
    "an expired token": LibraryCase(PROFILE, max_age=-3600),
    "a token expired within the clock tolerance": LibraryCase(PROFILE, max_age=-5),
    "another secret": LibraryCase(PROFILE, secret=OTHER_SECRET),
    "a retired secret still configured": LibraryCase(
        PROFILE, secret=RETIRED_SECRET, read_with=(SECRET, RETIRED_SECRET)
    ),
    "the first of rotated secrets": LibraryCase(PROFILE, secret=[SECRET, RETIRED_SECRET]),
    "an A256GCM token": LibraryCase(PROFILE, op="encodeA256GCM"),
    "an A256GCM token for the secure cookie": LibraryCase(
        UNICODE, op="encodeA256GCM", salt=SECURE, cookie_name=SECURE
    ),
    # Without a kid, @auth/core decrypts with the first secret only.
    "an A256GCM token of a retired secret": LibraryCase(
        PROFILE, op="encodeA256GCM", secret=RETIRED_SECRET, read_with=(SECRET, RETIRED_SECRET)
    ),
    "an A256GCM token of the first secret": LibraryCase(
        PROFILE, op="encodeA256GCM", secret=RETIRED_SECRET, read_with=(RETIRED_SECRET, SECRET)
    ),
    "a compressed token": LibraryCase(PROFILE, op="encodeCompressed"),
}


@pytest.fixture(scope="module")
def library_tokens(auth_core_v5: NodeLibrary) -> dict[str, str]:
    requests = [
        {
            "op": case.op,
            "claims": case.claims,
            "secret": case.secret,
            "salt": case.salt,
            "maxAge": case.max_age,
        }
        for case in LIBRARY_CASES.values()
    ]
    return {
        name: result["token"] for name, result in zip(LIBRARY_CASES, auth_core_v5.run(requests), strict=True)
    }


@pytest.fixture(scope="module")
def tampered_tokens(library_tokens: dict[str, str]) -> dict[str, str]:
    return tampered(library_tokens["a profile"])


@pytest.fixture(scope="module")
def library_verdicts(
    auth_core_v5: NodeLibrary, library_tokens: dict[str, str], tampered_tokens: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """@auth/core's ``decode`` of its tokens and of the tampered ones, and how it chunks the large one."""
    tokens = {
        **{name: (library_tokens[name], case) for name, case in LIBRARY_CASES.items()},
        **{change: (token, LIBRARY_CASES["a profile"]) for change, token in tampered_tokens.items()},
    }
    decodes = {
        name: {"op": "decode", "token": token, "secret": list(case.read_with), "salt": case.cookie_name}
        for name, (token, case) in tokens.items()
    }
    return APP.library_verdicts(auth_core_v5, decodes, library_tokens)


@pytest.mark.parametrize("name", LIBRARY_CASES)
def test_decodes_auth_core_tokens_to_the_claims_auth_core_decodes(
    name: str, library_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    APP.assert_reads_library_token(name, LIBRARY_CASES[name], library_tokens, library_verdicts)


@pytest.mark.parametrize("change", CHANGES)
def test_rejects_changed_tokens_as_auth_core_does(
    change: str, tampered_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    APP.assert_refuses_changed_token(tampered_tokens[change], library_verdicts[change])


OUR_CASES = {
    "a profile": OurCase(PROFILE),
    "unicode names": OurCase(UNICODE),
    "custom claims": OurCase(CUSTOM),
    "the secure cookie name": OurCase(PROFILE, cookie_name=SECURE, secure_cookie=True),
    "a token split into chunks": OurCase(LARGE),
    "a secure token split into chunks": OurCase(LARGE, cookie_name=SECURE, secure_cookie=True),
    "a bearer token": OurCase(PROFILE, sent_as="bearer"),
    "a browser's cookie header": OurCase(PROFILE, sent_as="browser header"),
    "an expired token": OurCase(PROFILE, issued_at=time.time() - 31 * 24 * 3600, refused=True),
    "another secret": OurCase(PROFILE, secret=OTHER_SECRET, refused=True),
}


@pytest.fixture(scope="module")
def our_cookies() -> dict[str, str]:
    return APP.mint(OUR_CASES)


@pytest.fixture(scope="module")
def library_readings(auth_core_v5: NodeLibrary, our_cookies: dict[str, str]) -> dict[str, dict[str, Any]]:
    """@auth/core's ``getToken`` of each of our cookies, and how @auth/core would chunk the large tokens."""
    return APP.library_readings(auth_core_v5, OUR_CASES, our_cookies)


@pytest.mark.parametrize("name", OUR_CASES)
def test_auth_core_reads_our_cookies_as_we_do(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    APP.assert_library_reads_as_we_do(OUR_CASES[name], our_cookies[name], library_readings[name])


@pytest.mark.parametrize("name", chunked(OUR_CASES))
def test_chunks_a_large_token_exactly_as_auth_core_does(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    assert our_cookies[name] == cookie_header(library_readings[as_library_chunks(name)]["cookies"])
