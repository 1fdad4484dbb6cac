"""Reads the session cookie a Next.js app signed in with NextAuth (v4) or Auth.js (v5) sets.

Both libraries keep the session in an encrypted JWT (a compact JWE with ``alg: "dir"``) whose key
is derived from the app's secret. ``NextAuthSession`` is the ``SessionPort`` adapter, given the
cookies ``cookie_parser`` reads from a ``Cookie`` header; ``mint_session_cookie`` and
``decode_session_cookie`` serve the command line.
"""

from adapters.nextauth.claims import claims_for_user
from adapters.nextauth.cookie_parsing import CookieParser, cookie_parser
from adapters.nextauth.cookies import default_cookie_name
from adapters.nextauth.errors import FailureReason
from adapters.nextauth.keys import Version
from adapters.nextauth.session import NextAuthSession
from adapters.nextauth.tokens import (
    DecodedSession,
    DecodeFailure,
    decode_session_cookie,
    mint_session_cookie,
)

__all__ = [
    "CookieParser",
    "DecodeFailure",
    "DecodedSession",
    "FailureReason",
    "NextAuthSession",
    "Version",
    "claims_for_user",
    "cookie_parser",
    "decode_session_cookie",
    "default_cookie_name",
    "mint_session_cookie",
]
