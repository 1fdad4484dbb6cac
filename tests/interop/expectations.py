"""What the interop tests compare: the library's verdict on a token, in this adapter's terms."""

from typing import Any

from adapters.nextauth import DecodedSession, DecodeFailure, FailureReason
from domain.user import User

# jose's error codes, and @auth/core's own error when no secret's thumbprint is the token's kid.
_REASONS: dict[str, FailureReason] = {
    "ERR_JWT_EXPIRED": "expired",
    "ERR_JWE_DECRYPTION_FAILED": "decrypt failed",
    "no matching decryption secret": "decrypt failed",
    "ERR_JWE_INVALID": "malformed",
    "ERR_JWT_INVALID": "malformed",
    "ERR_JOSE_NOT_SUPPORTED": "malformed",
    "ERR_JOSE_ALG_NOT_ALLOWED": "malformed",
}


def assert_same_verdict(ours: DecodedSession | DecodeFailure, library: dict[str, Any]) -> None:
    """We accept exactly what the library's ``decode`` accepts, with the same claims, and refuse the rest
    for the reason the library's error amounts to."""
    if "error" in library:
        assert isinstance(ours, DecodeFailure), ours
        assert ours.reason == _REASONS[library["error"]]
        return
    claims = library["claims"]
    assert isinstance(ours, DecodedSession), ours
    assert ours.claims == claims
    assert ours.user == _user_nextauth_shows(claims)


def _user_nextauth_shows(claims: dict[str, Any]) -> User | None:
    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    sub = text("sub")
    return User(sub, text("name"), text("email"), text("picture")) if sub else None


def tampered(token: str) -> dict[str, str]:
    """Tokens one change away from ``token``: a character in the middle of each part swapped, or the
    structure broken. (Middle characters, because jose ignores a last character's unused bits.)"""
    variants: dict[str, str] = {}
    start = 0
    for part_name, part in zip(
        ("header", "encrypted key", "iv", "ciphertext", "tag"), token.split("."), strict=True
    ):
        if part:
            middle = start + len(part) // 2
            swapped = "B" if token[middle] == "A" else "A"
            variants[f"{part_name} changed"] = token[:middle] + swapped + token[middle + 1 :]
        start += len(part) + 1
    variants["a dot dropped"] = token.replace(".", "", 1)
    variants["truncated"] = token[: len(token) // 2]
    variants["an encrypted key added"] = token.replace("..", ".AAAA.", 1)
    return variants


CHANGES = (
    "header changed",
    "iv changed",
    "ciphertext changed",
    "tag changed",
    "a dot dropped",
    "truncated",
    "an encrypted key added",
)


def cookie_header(cookies: list[list[str]]) -> str:
    """The ``Cookie`` header a browser sends back for the cookies a library set, in order."""
    return "; ".join(f"{name}={value}" for name, value in cookies)
