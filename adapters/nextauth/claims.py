"""The JWT claims set: the checks jose's ``jwtDecrypt`` makes, and the user NextAuth reads from it."""

from collections.abc import Mapping

import msgspec

from adapters.nextauth.errors import ExpiredToken, MalformedToken
from adapters.nextauth.jwe import decode_json_object
from domain.event import JsonValue
from domain.user import User

# Both next-auth v4 and @auth/core call jwtDecrypt with ``clockTolerance: 15``.
CLOCK_TOLERANCE_SECONDS = 15
_ABSENT = object()
_REPLICATED = ("iss", "sub", "aud")
_NUMBERS = (int, float)


def validate_claims(header: Mapping[str, JsonValue], plaintext: bytes, now: int) -> dict[str, JsonValue]:
    """The claims set, checked in jose's order, or why it is refused at ``now`` (Unix seconds).

    ``iat``, ``nbf`` and ``exp`` must be JSON numbers when present; ``nbf`` may be at most, and
    ``exp`` must be more than, the tolerance away from ``now``. ``iat`` is not compared with the
    clock and ``jti`` is not checked, as neither library asks jose to. ``iss``, ``sub`` and ``aud``
    repeated in the header must equal the claims'.
    """
    claims = decode_json_object(plaintext, "JWT claims set")
    numeric_date(claims, "iat")
    check_not_before(numeric_date(claims, "nbf"), now)
    check_not_expired(numeric_date(claims, "exp"), now)
    for name in _REPLICATED:
        if name in header and not _replicated(name, header[name], claims.get(name, _ABSENT)):
            raise MalformedToken(f'the header\'s "{name}" differs from the claim')
    return claims


def check_not_before(nbf: int | float | None, now: int) -> None:
    """``ExpiredToken`` if the token is valid from ``nbf`` on, more than the tolerance after ``now``."""
    if nbf is not None and nbf > now + CLOCK_TOLERANCE_SECONDS:
        raise ExpiredToken('the token is not valid yet: "nbf" is later than now, beyond the tolerance')


def check_not_expired(exp: int | float | None, now: int) -> None:
    """``ExpiredToken`` if the token expired at ``exp``, more than the tolerance before ``now``."""
    if exp is not None and exp <= now - CLOCK_TOLERANCE_SECONDS:
        raise ExpiredToken('the token has expired: "exp" is earlier than now, beyond the tolerance')


def numeric_date(claims: Mapping[str, JsonValue], name: str) -> int | float | None:
    """The claim ``name``, ``None`` when absent, or ``MalformedToken`` unless it is a JSON number."""
    value = claims.get(name)
    if value is None:
        if name in claims:  # JSON null
            raise MalformedToken(f'the "{name}" claim is not a number')
        return None
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        raise MalformedToken(f'the "{name}" claim is not a number')
    return value


def _replicated(name: str, in_header: JsonValue, in_claims: object) -> bool:
    """jose compares ``aud`` as JSON text and the others with ``===``, under which no object or
    array equals another and ``true`` is not ``1``."""
    if name == "aud":
        return in_claims is not _ABSENT and msgspec.json.encode(in_header) == msgspec.json.encode(in_claims)
    if isinstance(in_header, dict | list) or isinstance(in_claims, dict | list):
        return False
    if isinstance(in_header, bool) or isinstance(in_claims, bool):
        return in_header is in_claims
    if isinstance(in_header, int | float) and isinstance(in_claims, int | float):
        return in_header == in_claims
    return type(in_header) is type(in_claims) and in_header == in_claims


def session_user(claims: Mapping[str, JsonValue]) -> User | None:
    """The user as NextAuth's session shows them: ``id`` from ``sub``, ``image`` from ``picture``.

    NextAuth writes ``sub`` as the user id's string and the others as the provider's strings or
    null. A claim of any other type is treated as absent rather than converted, so nothing is
    made up; without a non-empty string ``sub`` nobody is signed in.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return None
    name, email, image = claims.get("name"), claims.get("email"), claims.get("picture")
    return User(
        sub,
        name if isinstance(name, str) else None,
        email if isinstance(email, str) else None,
        image if isinstance(image, str) else None,
    )


def claims_for_user(user: User) -> dict[str, JsonValue]:
    """The claims NextAuth puts in a new session token for ``user``; absent attributes are left out."""
    claims: dict[str, JsonValue] = {}
    for name, value in (("name", user.name), ("email", user.email), ("picture", user.image)):
        if value is not None:
            claims[name] = value
    claims["sub"] = user.id
    return claims
