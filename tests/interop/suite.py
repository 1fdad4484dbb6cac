"""What the next-auth v4 and Auth.js v5 suites share: the claims, and the checks both run against the
library, with the NextAuth version, the app's secret and the library's cookie names as parameters.

Each suite keeps its own cases, fixtures and tests; a test hands its case to ``NextAuthApp``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from adapters.nextauth import DecodedSession, Version, decode_session_cookie, mint_session_cookie
from tests.interop.expectations import assert_same_verdict, cookie_header
from tests.interop.nodejs import NodeLibrary

RETIRED_SECRET = "the secret before the last rotation"
OTHER_SECRET = "another app's secret"

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

# The library case whose token ``library_verdicts`` also has the library split into chunks.
LIBRARY_CHUNKED = "a token split into chunks"


class LibraryCase(Protocol):
    """What a suite's own ``LibraryCase`` says about how we read the library's token."""

    @property
    def cookie_name(self) -> str: ...

    @property
    def read_with(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class OurCase:
    """A cookie we mint with ``secret`` (the app's own unless given); the library's ``getToken`` must
    read it as we do, and both must refuse it when it is ``refused``."""

    claims: dict[str, Any]
    secret: str | None = None
    cookie_name: str | None = None
    issued_at: float | None = None
    sent_as: Literal["cookie", "bearer", "browser header"] = "cookie"
    secure_cookie: bool = False
    refused: bool = False


def chunked(cases: Mapping[str, OurCase]) -> list[str]:
    """The cases whose cookie is large enough to be sent in chunks."""
    return [name for name in cases if "chunks" in name]


def as_library_chunks(name: str) -> str:
    """The key under which ``library_readings`` holds how the library chunks case ``name``'s token."""
    return f"{name}, as the library chunks it"


@dataclass(frozen=True, slots=True)
class NextAuthApp:
    """A Next.js app signed in with NextAuth ``version``: the app's secret and the library's cookie names."""

    version: Version
    secret: str
    session_cookie: str
    csrf_cookie: str

    # The library's tokens, read by us.

    def library_verdicts(
        self, library: NodeLibrary, decodes: Mapping[str, dict[str, Any]], library_tokens: Mapping[str, str]
    ) -> dict[str, dict[str, Any]]:
        """The library's answer to each of ``decodes`` (its ``decode`` requests, by case or change), and
        under ``"chunked"`` how it chunks the token of case ``LIBRARY_CHUNKED``."""
        chunk = {"op": "chunk", "name": self.session_cookie, "value": library_tokens[LIBRARY_CHUNKED]}
        *decoded, chunked_token = library.run([*decodes.values(), chunk])
        return {**dict(zip(decodes, decoded, strict=True)), "chunked": chunked_token}

    def assert_reads_library_token(
        self,
        name: str,
        case: LibraryCase,
        library_tokens: Mapping[str, str],
        library_verdicts: Mapping[str, dict[str, Any]],
    ) -> None:
        """We read the library's token for case ``name`` in a browser's Cookie header (in the library's
        chunks for ``LIBRARY_CHUNKED``) as the library's ``decode`` read it."""
        if name == LIBRARY_CHUNKED:
            header = cookie_header(library_verdicts["chunked"]["cookies"])
            assert f"{self.session_cookie}.1=" in header
        else:
            header = f"theme=dark; {case.cookie_name}={library_tokens[name]}; _ga=GA1.2.3"
        library = library_verdicts[name]
        # Read at the instant the token was issued, as the library just did, when it has that instant.
        issued_at = library.get("claims", {}).get("iat")
        ours = decode_session_cookie(header, case.read_with, self.version, now=issued_at)
        assert_same_verdict(ours, library)

    def assert_refuses_changed_token(self, token: str, library_verdict: dict[str, Any]) -> None:
        """The library refused a changed token; we refuse it too, for the same reason."""
        assert "error" in library_verdict
        ours = decode_session_cookie(f"{self.session_cookie}={token}", (self.secret,), self.version)
        assert_same_verdict(ours, library_verdict)

    # Our cookies, read by the library.

    def mint(self, cases: Mapping[str, OurCase]) -> dict[str, str]:
        """Our cookie (a Cookie header) for each case."""
        return {
            name: mint_session_cookie(
                self.secret if case.secret is None else case.secret,
                self.version,
                case.claims,
                cookie_name=case.cookie_name,
                now=case.issued_at,
            )
            for name, case in cases.items()
        }

    def library_readings(
        self, library: NodeLibrary, cases: Mapping[str, OurCase], our_cookies: Mapping[str, str]
    ) -> dict[str, dict[str, Any]]:
        """The library's ``getToken`` of each of our cookies, sent as its case says, and how the library
        would chunk the large tokens (under ``as_library_chunks``)."""
        requests: list[dict[str, Any]] = []
        for name, case in cases.items():
            request: dict[str, Any] = {
                "op": "getToken",
                "secret": self.secret,
                "secureCookie": case.secure_cookie,
            }
            if case.sent_as == "bearer":
                request["authorization"] = "Bearer " + our_cookies[name].split("=", 1)[1]
            elif case.sent_as == "browser header":
                request["cookieHeader"] = f"{self.csrf_cookie}=abc%7Cdef; {our_cookies[name]}; locale=fr-CH"
            else:
                request["cookieHeader"] = our_cookies[name]
            requests.append(request)
        for name in chunked(cases):
            cookie_name, token = _unchunked(our_cookies[name])
            requests.append({"op": "chunk", "name": cookie_name, "value": token})
        names = [*cases, *map(as_library_chunks, chunked(cases))]
        return dict(zip(names, library.run(requests), strict=True))

    def assert_library_reads_as_we_do(self, case: OurCase, our_cookie: str, reading: dict[str, Any]) -> None:
        """The library's ``getToken`` finds in our cookie the claims we find, or nothing where we refuse
        it; and we refuse it only when the case is ``refused``."""
        ours = decode_session_cookie(our_cookie, (self.secret,), self.version)
        expected = ours.claims if isinstance(ours, DecodedSession) else None
        assert reading == {"claims": expected}
        assert (expected is not None) == (not case.refused)


def _unchunked(header: str) -> tuple[str, str]:
    """The cookie name and the whole token of a Cookie header carrying one token in chunks."""
    pairs = [pair.split("=", 1) for pair in header.split("; ")]
    return pairs[0][0].removesuffix(".0"), "".join(value for _, value in pairs)
