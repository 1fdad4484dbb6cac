"""Auth.js v5 (@auth/core) and the adapter read each other's session cookies: checked against @auth/core."""

import time
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from adapters.nextauth import DecodedSession, decode_session_cookie, mint_session_cookie
from tests.interop.expectations import CHANGES, assert_same_verdict, cookie_header, tampered
from tests.interop.nodejs import NodeLibrary

SECRET = "interop secret for auth.js v5"
RETIRED_SECRET = "the secret before the last rotation"
OTHER_SECRET = "another app's secret"
PLAIN = "authjs.session-token"
CSRF_COOKIE = "authjs.csrf-token"
SECURE = "__Secure-authjs.session-token"

PROFILE = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "picture": "https://example.com/a.png",
    "sub": "u-1",
}
UNICODE = {"name": "Zoë Ñúñez 李小龍 🎉", "email": "zoë@exämple.com", "sub": "ユーザー-2"}
CUSTOM = {
    "sub": "u-3",
    "role": "admin",
    "flags": [True, False, None],
    "nested": {"n": 1.5, "big": 2**53, "neg": -7},
}
LARGE = {**PROFILE, "groups": [f"group-{index:04d}" for index in range(600)]}


@dataclass(frozen=True)
class LibraryCase:
    """A token @auth/core encodes with ``secret`` and ``salt``, sent as cookie ``cookie_name``; we read
    it with ``read_with`` as @auth/core's ``decode`` reads it with ``library_secrets``, salted with
    the cookie's name as ``getToken`` salts it."""

    claims: dict[str, Any]
    op: Literal["encode", "encodeA256GCM", "encodeCompressed"] = "encode"
    secret: str | list[str] = SECRET
    salt: str = PLAIN
    max_age: int = 3600
    cookie_name: str = PLAIN
    read_with: tuple[str, ...] = (SECRET,)
    library_secrets: tuple[str, ...] = (SECRET,)


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
        PROFILE,
        secret=RETIRED_SECRET,
        read_with=(SECRET, RETIRED_SECRET),
        library_secrets=(SECRET, RETIRED_SECRET),
    ),
    "the first of rotated secrets": LibraryCase(PROFILE, secret=[SECRET, RETIRED_SECRET]),
    "an A256GCM token": LibraryCase(PROFILE, op="encodeA256GCM"),
    "an A256GCM token for the secure cookie": LibraryCase(
        UNICODE, op="encodeA256GCM", salt=SECURE, cookie_name=SECURE
    ),
    # Without a kid, @auth/core decrypts with the first secret only.
    "an A256GCM token of a retired secret": LibraryCase(
        PROFILE,
        op="encodeA256GCM",
        secret=RETIRED_SECRET,
        read_with=(SECRET, RETIRED_SECRET),
        library_secrets=(SECRET, RETIRED_SECRET),
    ),
    "an A256GCM token of the first secret": LibraryCase(
        PROFILE,
        op="encodeA256GCM",
        secret=RETIRED_SECRET,
        read_with=(RETIRED_SECRET, SECRET),
        library_secrets=(RETIRED_SECRET, SECRET),
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
    requests = [
        {"op": "decode", "token": token, "secret": list(case.library_secrets), "salt": case.cookie_name}
        for token, case in tokens.values()
    ]
    requests.append({"op": "chunk", "name": PLAIN, "value": library_tokens["a token split into chunks"]})
    *decoded, chunked = auth_core_v5.run(requests)
    return {**dict(zip(tokens, decoded, strict=True)), "chunked": chunked}


@pytest.mark.parametrize("name", LIBRARY_CASES)
def test_decodes_auth_core_tokens_to_the_claims_auth_core_decodes(
    name: str, library_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    case = LIBRARY_CASES[name]
    if name == "a token split into chunks":
        header = cookie_header(library_verdicts["chunked"]["cookies"])
        assert f"{PLAIN}.1=" in header
    else:
        header = f"theme=dark; {case.cookie_name}={library_tokens[name]}; _ga=GA1.2.3"
    library = library_verdicts[name]
    # Read at the instant the token was issued, as @auth/core just did, when it has that instant.
    issued_at = library.get("claims", {}).get("iat")
    assert_same_verdict(decode_session_cookie(header, case.read_with, 5, now=issued_at), library)


@pytest.mark.parametrize("change", CHANGES)
def test_rejects_changed_tokens_as_auth_core_does(
    change: str, tampered_tokens: dict[str, str], library_verdicts: dict[str, dict[str, Any]]
) -> None:
    assert "error" in library_verdicts[change]
    ours = decode_session_cookie(f"{PLAIN}={tampered_tokens[change]}", (SECRET,), 5)
    assert_same_verdict(ours, library_verdicts[change])


@dataclass(frozen=True)
class OurCase:
    """A cookie we mint; @auth/core's ``getToken`` must read it as we do, or refuse it as we do."""

    claims: dict[str, Any]
    secret: str = SECRET
    cookie_name: str | None = None
    issued_at: float | None = None
    sent_as: Literal["cookie", "bearer", "browser header"] = "cookie"
    secure_cookie: bool = False


OUR_CASES = {
    "a profile": OurCase(PROFILE),
    "unicode names": OurCase(UNICODE),
    "custom claims": OurCase(CUSTOM),
    "the secure cookie name": OurCase(PROFILE, cookie_name=SECURE, secure_cookie=True),
    "a token split into chunks": OurCase(LARGE),
    "a secure token split into chunks": OurCase(LARGE, cookie_name=SECURE, secure_cookie=True),
    "a bearer token": OurCase(PROFILE, sent_as="bearer"),
    "a browser's cookie header": OurCase(PROFILE, sent_as="browser header"),
    "an expired token": OurCase(PROFILE, issued_at=time.time() - 31 * 24 * 3600),
    "another secret": OurCase(PROFILE, secret=OTHER_SECRET),
}


@pytest.fixture(scope="module")
def our_cookies() -> dict[str, str]:
    return {
        name: mint_session_cookie(
            case.secret, 5, case.claims, cookie_name=case.cookie_name, now=case.issued_at
        )
        for name, case in OUR_CASES.items()
    }


@pytest.fixture(scope="module")
def library_readings(auth_core_v5: NodeLibrary, our_cookies: dict[str, str]) -> dict[str, dict[str, Any]]:
    """@auth/core's ``getToken`` of each of our cookies, and how @auth/core would chunk the large tokens."""
    requests: list[dict[str, Any]] = []
    for name, case in OUR_CASES.items():
        request: dict[str, Any] = {"op": "getToken", "secret": SECRET, "secureCookie": case.secure_cookie}
        if case.sent_as == "bearer":
            request["authorization"] = "Bearer " + our_cookies[name].split("=", 1)[1]
        elif case.sent_as == "browser header":
            request["cookieHeader"] = f"{CSRF_COOKIE}=abc%7Cdef; {our_cookies[name]}; locale=fr-CH"
        else:
            request["cookieHeader"] = our_cookies[name]
        requests.append(request)
    chunked = [name for name in OUR_CASES if "chunks" in name]
    for name in chunked:
        cookie_name, token = _unchunked(our_cookies[name])
        requests.append({"op": "chunk", "name": cookie_name, "value": token})
    names = [*OUR_CASES, *(f"{name}, as the library chunks it" for name in chunked)]
    return dict(zip(names, auth_core_v5.run(requests), strict=True))


def _unchunked(header: str) -> tuple[str, str]:
    """The cookie name and the whole token of a Cookie header carrying one token in chunks."""
    pairs = [pair.split("=", 1) for pair in header.split("; ")]
    return pairs[0][0].removesuffix(".0"), "".join(value for _, value in pairs)


@pytest.mark.parametrize("name", OUR_CASES)
def test_auth_core_reads_our_cookies_as_we_do(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    ours = decode_session_cookie(our_cookies[name], (SECRET,), 5)
    expected = ours.claims if isinstance(ours, DecodedSession) else None
    assert library_readings[name] == {"claims": expected}
    assert (expected is not None) == (name not in {"an expired token", "another secret"})


@pytest.mark.parametrize("name", [name for name in OUR_CASES if "chunks" in name])
def test_chunks_a_large_token_exactly_as_auth_core_does(
    name: str, our_cookies: dict[str, str], library_readings: dict[str, dict[str, Any]]
) -> None:
    assert our_cookies[name] == cookie_header(
        library_readings[f"{name}, as the library chunks it"]["cookies"]
    )
