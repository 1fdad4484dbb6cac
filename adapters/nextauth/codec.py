"""NextAuth's session JWT: ``encode`` and ``decode`` as ``next-auth/jwt`` and ``@auth/core/jwt`` do them."""

import uuid
from collections.abc import Mapping, Sequence

import msgspec

from adapters.nextauth import jwe
from adapters.nextauth.claims import validate_claims
from adapters.nextauth.errors import DecryptionFailed, MalformedToken
from adapters.nextauth.keys import ACCEPTED_ENCS, Keyring
from domain.event import JsonValue

DEFAULT_MAX_AGE_SECONDS = 30 * 24 * 60 * 60


def encode(claims: Mapping[str, JsonValue], keyring: Keyring, *, max_age: int, now: int) -> str:
    """A token for ``claims``, as the library issues one: ``iat``, ``exp`` and a fresh ``jti`` are set.

    v4 issues ``{"alg": "dir", "enc": "A256GCM"}``; v5 ``{"alg": "dir", "enc": "A256CBC-HS512",
    "kid": <thumbprint>}``.
    """
    key = keyring.encryption_key
    header = {"alg": "dir", "enc": key.enc}
    if keyring.version == 5:
        header["kid"] = key.kid
    payload = {**claims, "iat": now, "exp": now + max_age, "jti": str(uuid.uuid4())}
    return jwe.encrypt(msgspec.json.encode(payload), header, key.cipher)


def decode(token: str, keyrings: Sequence[Keyring], *, now: int) -> dict[str, JsonValue]:
    """The claims of a token one of the keyrings decrypts, or ``TokenRejected`` saying why not.

    The header is held to what the library would decrypt: a ``crit`` header is refused, as jose
    recognises no JWE extension, and ``zip: "DEF"`` is inflated, as jose does. Where jose is laxer
    than NextAuth needs, this is stricter: next-auth v4 restricts neither ``alg`` nor ``enc``, so
    jose would also take a key wrapped with the derived key, or ``A128CBC-HS256``; here ``alg``
    must be ``dir`` and v4's ``enc`` must be ``A256GCM``, all next-auth ever issues.
    """
    parsed = jwe.parse(token)
    header = parsed.header
    if "crit" in header:
        raise MalformedToken('the header names "crit" extensions, which are not supported')
    compressed = "zip" in header
    if compressed and header["zip"] != "DEF":
        raise MalformedToken('the header\'s "zip" is not "DEF"')
    if header.get("alg") != "dir":
        raise MalformedToken('the header\'s "alg" is not "dir"')
    if parsed.encrypted_key:
        raise MalformedToken('a "dir" JWE carries no encrypted key')
    enc = header.get("enc")
    if not isinstance(enc, str) or enc not in ACCEPTED_ENCS[keyrings[0].version]:
        raise MalformedToken('the header\'s "enc" is not one this NextAuth version accepts')
    for keyring in keyrings:
        for key in keyring.decryption_keys(enc, header):
            try:
                plaintext = jwe.decrypt(parsed, key.cipher)
            except DecryptionFailed:
                continue
            jwe.remember_header(parsed)
            return validate_claims(header, jwe.inflate(plaintext) if compressed else plaintext, now)
    raise DecryptionFailed("no configured secret decrypts the token")
