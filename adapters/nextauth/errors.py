"""Why a session token is refused, in the few words the command line reports."""

from typing import ClassVar, Literal, TypeAlias

FailureReason: TypeAlias = Literal["expired", "decrypt failed", "no session cookie", "malformed"]


class TokenRejected(Exception):
    """A token that proves nobody. The message says why for debug logs; it never holds the token."""

    reason: ClassVar[FailureReason]


class MalformedToken(TokenRejected):
    """Not a token the library would even try to decrypt, or a claims set it would not accept."""

    reason = "malformed"


class DecryptionFailed(TokenRejected):
    """No configured secret decrypts it: another secret or salt, or the text was changed."""

    reason = "decrypt failed"


class ExpiredToken(TokenRejected):
    """Authentic, but not valid now: ``exp`` has passed or ``nbf`` has not come yet."""

    reason = "expired"


class NoSessionCookie(TokenRejected):
    """The request carries no session token at all."""

    reason = "no session cookie"
